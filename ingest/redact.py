"""Secrets out of what is stored: API keys, tokens, private keys, passwords in URLs, commands and config.

Applied by the store to the columns ``schema.REDACTED`` names (tool inputs and outputs, prompts,
messages, raw hook payloads, job prompts and results, error text), so every source is redacted the
same way. A secret becomes ``[REDACTED:<kind>]``; what surrounds it stays, so a command is still
readable (``export OPENAI_API_KEY=[REDACTED:assignment]``). JSON columns are always decoded and
every string in them redacted (a value under a secret-sounding key too), then encoded again.

What is found:

* tokens that say what they are (``sk-ant-``, ``ghp_``, ``AKIA``, JWTs, private key blocks, ...);
* values given to a secret-sounding name, in the shapes they are written in: ``.env`` and shell
  (``export API_KEY=...``), JSON, YAML, TOML, INI and credential files (``aws_secret_access_key = ...``,
  ``//registry.npmjs.org/:_authToken=...``), escaped JSON inside a string (``\\"password\\": \\"...\\"``),
  XML, HTTP headers (``Authorization``, ``X-Api-Key``, cookies), connection strings (``Password=...;``);
* command lines: ``--password x``, ``mysql -pX``, ``sshpass -p x``, ``curl -u user:x``,
  ``echo x | docker login --password-stdin``, ``.netrc`` entries, ``IDENTIFIED BY 'x'``;
* passwords in URLs, an ``@`` in the password included.

Placeholders are left alone (``${DB_PASSWORD}``, ``os.environ["X"]``, ``None``, ``getpass()``,
``<your-token>``, ``****``), and so is code that only names a secret (``password: str``). A private
key block is taken only when base64 lines follow its BEGIN line, and only its body goes.

Speed: every pattern is linear by construction. Python's ``re`` backtracks and has no possessive
quantifiers on 3.10, so each search starts from a literal or a rare character, a run is tried once
(a lookbehind right after the literal rejects a start inside a longer run, or a match never fails
once its run is scanned), and repetition is bounded where the format is. One regex searches the text
for everything that starts with a known marker (``_FORWARD``, one branch per first character);
``name <separator> value`` is searched in the reversed text (``_REVERSED``, one regex per separator):
reversed, the separator comes first, so it anchors the search and the name is matched from its end
(``re`` has no variable-width lookbehind). Values are read forward from the separator, each once. A
text with no marker costs one search; a UUID or a timestamp, none.

``CLAUDE_INGEST_NO_REDACT=1`` (or ``--no-redact`` on the commands) stores everything as it came.
Standard library only: the hook path uses it.
"""

from __future__ import annotations

import bisect
import functools
import json
import os
import re

NO_REDACT_ENV = "CLAUDE_INGEST_NO_REDACT"


def _trie(words) -> str:
    """An alternation of literal ``words`` factored by common prefixes: ``re`` tries a branch's
    alternatives one by one, so a shared prefix is compared once instead of once per word."""
    groups: dict[str, list[str]] = {}
    optional = False
    for word in sorted(set(words)):
        if word:
            groups.setdefault(word[0], []).append(word[1:])
        else:
            optional = True
    if not groups:
        return ""
    parts = [re.escape(c) + _trie(rest) for c, rest in groups.items()]
    body = parts[0] if len(parts) == 1 and not optional else "(?:" + "|".join(parts) + ")"
    return body + "?" if optional else body


def _cases(*words: str) -> list[str]:
    """The spellings a name is written in: ``password``, ``Password`` (camelCase, headers), ``PASSWORD``."""
    return [v for w in words for v in {w, w[:1].upper() + w[1:], w.upper()}]


# --- tokens that say what they are -------------------------------------------------------------

# (kind, prefix, body) for prefixes ending in "_", "-" or ".": each group is searched from that
# character, then the character before it and a lookahead for 16 token characters reject almost
# every other "_" at once, then a lookbehind checks the prefix. The handler checks that no token
# character stands before the prefix ("task-..." is not "sk-..."); a body never fails once it has
# run, so a run of token characters is scanned once. Longer prefixes first where one ends another.
_SEPARATED_TOKENS = (
    ("anthropic_key", "sk-ant-", r"[A-Za-z0-9_\-]{20,}"),
    ("openai_key", "sk-", r"(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    ("stripe_key", "sk_live_", r"[A-Za-z0-9]{16,}"),
    ("stripe_key", "sk_test_", r"[A-Za-z0-9]{16,}"),
    ("stripe_key", "rk_live_", r"[A-Za-z0-9]{16,}"),
    ("stripe_key", "rk_test_", r"[A-Za-z0-9]{16,}"),
    ("stripe_key", "whsec_", r"[A-Za-z0-9]{24,}"),
    ("github_token", "github_pat_", r"[A-Za-z0-9_]{22,}"),
    *(("github_token", p, r"[A-Za-z0-9]{30,}") for p in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    *(("gitlab_token", p, r"[A-Za-z0-9_\-]{20,}")
      for p in ("glpat-", "gldt-", "glptt-", "glrt-", "gloas-", "glcbt-", "glimt-", "glft-", "glsoat-", "glagent-")),
    *(("slack_token", p, r"[A-Za-z0-9\-]{16,}") for p in ("xoxb-", "xoxp-", "xoxa-", "xoxs-", "xoxr-", "xoxe-", "xoxo-")),
    ("slack_token", "xapp-", r"[0-9]-[A-Za-z0-9\-]{16,}"),
    ("google_oauth", "GOCSPX-", r"[A-Za-z0-9_\-]{20,}"),
    ("google_oauth", "ya29.", r"[A-Za-z0-9_\-]{20,}"),
    ("huggingface_token", "hf_", r"[A-Za-z0-9]{30,}"),
    ("npm_token", "npm_", r"[A-Za-z0-9]{36}(?![A-Za-z0-9])"),
    ("pypi_token", "pypi-", r"[A-Za-z0-9_\-]{50,}"),
    *(("vault_token", p, r"[A-Za-z0-9_\-]{20,}") for p in ("hvs.", "hvb.", "hvr.")),
    *(("digitalocean_token", p, r"[a-f0-9]{64}") for p in ("dop_v1_", "doo_v1_", "dor_v1_")),
    ("sendgrid_key", "SG.", r"[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{20,}"),
    *(("shopify_token", p, r"[a-fA-F0-9]{32}") for p in ("shpat_", "shpca_", "shppa_", "shpss_")),
    ("linear_key", "lin_api_", r"[A-Za-z0-9]{32,}"),
    ("notion_token", "ntn_", r"[A-Za-z0-9]{32,}"),
    ("supabase_key", "sb_secret_", r"[A-Za-z0-9_\-]{20,}"),
    ("notion_token", "secret_", r"(?=[A-Za-z]{0,42}[0-9])[A-Za-z0-9]{43}(?![A-Za-z0-9])"),
    ("groq_key", "gsk_", r"[A-Za-z0-9]{40,}"),
    ("xai_key", "xai-", r"[A-Za-z0-9]{40,}"),
    ("replicate_token", "r8_", r"[A-Za-z0-9]{30,}"),
    ("perplexity_key", "pplx-", r"[A-Za-z0-9]{40,}"),
    ("langsmith_key", "lsv2_pt_", r"[a-f0-9]{32}_[a-f0-9]{10}"),
    ("langsmith_key", "lsv2_sk_", r"[a-f0-9]{32}_[a-f0-9]{10}"),
    ("pinecone_key", "pcsk_", r"[A-Za-z0-9_]{40,}"),
    ("supabase_key", "sbp_", r"[a-f0-9]{40}"),
    ("sentry_token", "sntrys_", r"[A-Za-z0-9_=+/\-]{40,}"),
    ("sentry_token", "sntryu_", r"[a-f0-9]{64}"),
    ("postman_key", "PMAK-", r"[a-f0-9]{24}-[a-f0-9]{34}"),
    ("figma_token", "figd_", r"[A-Za-z0-9_\-]{30,}"),
    *(("doppler_token", p, r"[A-Za-z0-9]{40,}") for p in ("dp.pt.", "dp.st.", "dp.ct.", "dp.sa.", "dp.scim.")),
    ("grafana_token", "glsa_", r"[A-Za-z0-9]{32}_[a-fA-F0-9]{8}"),
    ("grafana_token", "glc_", r"[A-Za-z0-9+/]{32,}={0,2}"),
    ("newrelic_key", "NRAK-", r"[A-Z0-9]{27}"),
    ("docker_token", "dckr_pat_", r"[A-Za-z0-9_\-]{24,}"),
    ("heroku_token", "HRKU-", r"[A-Za-z0-9_\-]{30,}"),
    *(("planetscale_token", p, r"[A-Za-z0-9_\-]{32,}") for p in ("pscale_tkn_", "pscale_pw_", "pscale_oauth_")),
    ("square_token", "sq0atp-", r"[A-Za-z0-9_\-]{22,}"),
    ("square_token", "sq0csp-", r"[A-Za-z0-9_\-]{40,}"),
    ("mailgun_key", "key-", r"[a-f0-9]{32}(?![A-Za-z0-9])"),
    ("brevo_key", "xkeysib-", r"[a-f0-9]{64}-[A-Za-z0-9]{16}"),
    ("fly_token", "fo1_", r"[A-Za-z0-9_\-]{40,}"),
    ("netlify_token", "nfp_", r"[A-Za-z0-9]{36,}"),
    ("render_key", "rnd_", r"[A-Za-z0-9]{32,}"),
    ("rubygems_key", "rubygems_", r"[a-f0-9]{48}"),
    ("mapbox_token", "sk.", r"eyJ[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{20,}"),
    ("resend_key", "re_", r"[A-Za-z0-9]{8}_[A-Za-z0-9]{24,}"),
)
_TOKEN_CHARS = r"[A-Za-z0-9_\-]"


def _separated_group(sep: str) -> str:
    """The pattern (after ``sep``) that says a known prefix ends at this ``sep``: first a lookbehind
    of two character classes (``re`` runs a class fast, an alternation slowly, even inside a
    lookbehind) and a lookahead for 16 token characters, which reject almost every separator (a
    UUID's dashes, ``msg_``), then the prefixes themselves, one lookbehind per length. The handler
    picks the prefix and reads the token's body."""
    prefixes = [prefix for _, prefix, _ in _SEPARATED_TOKENS if prefix[-1] == sep]
    second, last = (re.escape("".join(sorted({p[i] for p in prefixes}))) for i in (-3, -2))
    by_length: dict[int, list[str]] = {}
    for prefix in prefixes:
        by_length.setdefault(len(prefix), []).append(re.escape(prefix))
    known = "|".join(f"(?<={'|'.join(group)})" for _, group in sorted(by_length.items()))
    return f"(?<=[{second}][{last}]{re.escape(sep)})(?=[A-Za-z0-9_\\-+/]{{16}})(?:{known})"


# The tokens whose prefix ends where the forward search stopped, by the two characters before it,
# longest prefix first.
_PREFIXES: dict[str, list[tuple[str, str, str]]] = {}
for _kind, _prefix, _body in sorted(_SEPARATED_TOKENS, key=lambda t: -len(t[1])):
    _PREFIXES.setdefault(_prefix[-3:], []).append((_prefix, _kind, _body))


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str) -> re.Pattern:
    """A pattern compiled on first use: most texts never need it, and every hook call would pay for
    compiling it at import."""
    return re.compile(pattern)


# Spellings of a private key's line break: a newline, or the escapes a key has inside JSON text
# (\n), inside escaped JSON (\\n), or spaces (a key pasted onto one line).
_NL = r"(?:\r?\n|\\{1,3}r?\\{0,3}n)"
_SEP = r"(?:" + _NL + r"|[ \t]+" + _NL + r"?)[ \t]*"
_B64 = r"[A-Za-z0-9+/=]"
# Lines after the first: after a line break any length (the last line is short), after a space only
# a long one, so that prose after a key cut short is not taken for more of it.
_KEY_LINES = (r"(?:[ \t]*" + _NL + r"[ \t]*" + _B64 + r"{1,4096}(?=[ \t]*(?:[\r\n\\\"'<]|$|-----))|[ \t]+" + _B64
              + r"{16,4096}){0,400}")
# A key block must look like one: the BEGIN line, then (after armor headers such as Proc-Type or
# Version) a line of at least 16 base64 characters. A "-----BEGIN PRIVATE KEY-----" string in code is
# followed by a quote or a parenthesis and is left alone.
_KEY_BODY = (r"(?:[A-Za-z][A-Za-z0-9\-]{0,40}:[ \t][^\r\n\\]{0,256}" + _SEP + r"){0,8}(?:" + _NL + r"[ \t]*)?"
             + _B64 + r"{16,4096}" + _KEY_LINES)

# Each part of the forward search starts with a literal character. ``re`` only skips ahead to a
# possible start when every top-level alternative begins with a literal, so the parts are grouped
# into one alternative per first character: the search then stops only at those characters.
_FORWARD_PARTS: list[tuple[str, str, str]] = []  # (rule, first character, the rest of the pattern)
_SEPARATED = {sep: _separated_group(sep) for sep in "_-."}
_FORWARD_PARTS += [("underscore_tokens", "_", _SEPARATED["_"] + "(?P<token>)"),
                   ("dot_tokens", ".", _SEPARATED["."] + "(?P<dtoken>)")]

_LONG_FLAGS = _trie(["password", "passwd", "passphrase", "pass", "pwd", "secret", "token", "key", "apikey",
                     "auth", "user", "body", "cookie", "credentials", "storepass", "keypass", "requirepass",
                     "masterauth", "passin", "passout"])
_DASH_BEFORE = "".join(sorted({p[-2] for _, p, _ in _SEPARATED_TOKENS if p[-1] == "-"}))
_FORWARD_PARTS += [
    ("private_key", "-", r"----BEGIN (?:(?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY(?: BLOCK)?|OpenVPN Static key V1)-----"
          + _SEP + r"(?P<pk_body>" + _KEY_BODY + r")(?P<pk>)"),
    # a token prefix ending in "-", or a command-line flag (after a space, a quote or a parenthesis,
    # not "well-known"): one class test first, so that a UUID's dashes fail at once
    ("dash_tokens_and_flags", "-", r"(?<![^\s\"'(" + re.escape(_DASH_BEFORE) + r"]-)(?:" + _SEPARATED["-"] + r"(?P<ttoken>)|(?<![^\s\"'(]-)(?:-?(?P<cli_long>"
          r"(?:[a-z0-9]{1,24}[-_.]){0,4}?" + _LONG_FLAGS + r")(?P<cli_gap>[ \t]+)"
          r"|(?P<cli_stdin>-(?:password|token|pass)-stdin|-with-token|-password-from-stdin)(?![A-Za-z0-9_\-])"
          r"|(?P<cli_short>[pPauUwbS]))(?P<cli>))"),
    # JWT: header.payload.signature, the payload (a JSON object too) found from its dot
    ("jwt", ".", r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*(?P<jwt>)"),
    ("slack_webhook", ".", r"slack(?<=hooks\.slack)\.com/(?:services|workflows|triggers)/(?P<slack_hook>[A-Za-z0-9_/\-]{20,})"),
    ("discord_webhook", ".", r"com/api/webhooks/(?:(?<=discord\.com/api/webhooks/)|(?<=discordapp\.com/api/webhooks/))"
          r"(?P<discord_hook>[0-9]{5,30}/[A-Za-z0-9_\-]{20,})"),
    ("terraform_token", ".", r"atlasv1\.[A-Za-z0-9_=\-]{60,}(?P<tfc>)"),
    # scheme://user:password@host (the password ends at the last "@" before the path), or a token as user
    ("url_password", ":", r"//(?:(?P<url_user>[^\s:/\"'\\<>\[\]{}|`]{0,128}):(?P<url_pw>[^\s/\"'\\<>`]{1,512})@"
          r"|(?P<url_token>[A-Za-z0-9_\-]{36,256})@)(?P<url>)"),
    ("oracle_thin", ":", r"(?P<ora_user>[A-Za-z0-9_$#](?<=thin:.)[A-Za-z0-9_$#]{0,63})/(?P<ora_pw>[^@\s\"'\\/]{1,128})@(?P<ora>)"),
    # ~/.pgpass: host:port:database:user:password (the line is checked by the handler)
    ("pgpass", ":", r"[0-9*][0-9]{0,4}:[^\s:]{1,128}:[^\s:]{1,128}:(?P<pgpass_pw>[^\s\"']{1,256})(?P<pgpass>)"),
    ("telegram_token", ":", r"AA(?<=[0-9]{8}:AA)[A-Za-z0-9_\-]{33}(?![A-Za-z0-9_\-])(?P<telegram>)"),
    ("a_tokens", "A", r"(?:Iza(?<!" + _TOKEN_CHARS + r"AIza)[0-9A-Za-z_\-]{35}(?P<google_key>)"
          r"|(?:KIA|SIA|BIA|CCA)(?<!" + _TOKEN_CHARS + r"A...)[A-Z0-9]{16}(?![A-Za-z0-9])(?P<aws_access_key>)"
          r"|T(?:A|C)TT3(?<!" + _TOKEN_CHARS + r"A....)[A-Za-z0-9_\-=]{100,}(?P<atlassian_token>)"
          r"|GE-SECRET-KEY-1(?<!" + _TOKEN_CHARS + r"AGE-SECRET-KEY-1)[0-9A-Z]{58}(?P<age_key>))"),
    ("bearer", "B", r"(?:earer|EARER)[ \t]{1,8}(?P<bearer_value>[A-Za-z0-9\-._~+/]{16,4096}=*)(?P<bearer>)"),
    # redis.conf, anchored on the rare "q"
    ("requirepass", "q", r"uirepass(?<![A-Za-z0-9_\-]requirepass)(?<=requirepass)[ \t]{1,16}(?P<redis_conf>)"),
    ("basic", "B", r"asic[ \t]{1,8}(?P<basic_value>[A-Za-z0-9+/]{8,4096}={0,2})(?![A-Za-z0-9+/=])(?P<basic>)"),
    ("putty_key", "P", r"rivate-Lines:[ \t]*[0-9]{1,4}" + _SEP + r"(?P<ppk_body>" + _B64 + r"{16,4096}" + _KEY_LINES
          + r")(?P<ppk>)"),
    # <password>value</password>, found from its closing tag
    ("xml", "<", r"/(?:[A-Za-z0-9_\-]{1,32}:)?(?P<xml_name>[A-Za-z0-9_.\-]{0,40}?(?i:" + _trie([
        "password", "passwd", "passphrase", "pass", "pwd", "secret", "token", "key", "credential", "credentials",
        "creds"]) + r"))>(?P<xml>)"),
]


def _grouped(parts) -> str:
    by_first: dict[str, list[str]] = {}
    for _, first, rest in parts:
        by_first.setdefault(first, []).append(rest)
    return "|".join(re.escape(c) + ("(?:" + "|".join(rests) + ")" if len(rests) > 1 else rests[0])
                    for c, rests in by_first.items())


_FORWARD = re.compile(_grouped(_FORWARD_PARTS))

# Rules anchored on a common letter would make the forward search stop at every "d" or "m"; they
# run only on text that holds their literal (and is long enough to hold a match), compiled then:
# (rule, shortest match, literal, pattern).
_GATED = (
    ("databricks_token", 36, "dapi", r"dapi(?<!" + _TOKEN_CHARS + r"dapi)[a-f0-9]{32}(?:-[0-9])?(?![A-Za-z0-9])(?P<databricks_token>)"),
    # .netrc: "machine h login u password p", over one line or several
    ("netrc", 28, "machine", r"machine(?<![A-Za-z0-9_]machine)[ \t]{1,16}[^\s]{1,253}(?:\s{1,16}(?:login|account|port)"
                       r"[ \t]{1,16}[^\s]{1,253}){0,3}\s{1,16}password[ \t]{1,16}(?P<netrc>)"),
    ("sqlplus", 12, "sqlplus", r"sqlplus(?:[ \t]+-[A-Za-z]{1,12})*[ \t]+[\"']?[A-Za-z0-9_$#]{1,64}/(?P<sqlplus_pw>[^@\s\"'/]{1,128})"
                    r"(?=@|[\s\"']|$)(?P<sqlplus>)"),
    ("masterauth", 15, "masterauth", r"masterauth(?<![A-Za-z0-9_\-]masterauth)[ \t]{1,16}(?P<redis_conf>)"),  # redis.conf
)

# --- name <separator> value, searched in the reversed text --------------------------------------

# The last word of a secret-sounding name (the name itself is classified by _name_class) and what
# may follow it before the separator: a suffix (client-key-data, SECRET_KEY_BASE, password2).
_NAME_WORDS = _cases("password", "passwd", "passphrase", "pass", "pwd", "secret", "token", "key", "credential",
                     "credentials", "creds", "auth", "authorization", "sig", "signature", "pat", "cookie",
                     "value", "dockerconfigjson", "dockercfg")
_NAME_TAILS = _cases("data", "b64", "base64", "value", "string", "json", "base", "pem")
# One pattern per separator, each starting with it as a literal (the fastest search ``re`` has).
_LAST_CHARS = "".join(sorted({w[-1] for w in _NAME_WORDS + _NAME_TAILS}))
_SECOND_CHARS = "".join(sorted({w[-2] for w in _NAME_WORDS + _NAME_TAILS}))
# The lookahead uses single-character repeats only (``re`` runs those fast): most separators fail there.
# The words match in any case (a scoped flag keeps the pattern small: it is compiled on every hook
# call); the lookahead, in the three spellings' letters, is what most separators fail.
_KEYED_NAME = (r"(?=[ \t\"'\\]{0,20}[0-9_.\-]{0,4}[" + _LAST_CHARS + "][" + _SECOND_CHARS + r"])"
               r"(?P<k_gap>[ \t]{0,16}(?:[\"']\\{0,3})?)(?P<k_name>(?i:(?:(?:[0-9]{1,3}|"
               + _trie({t.lower()[::-1] for t in _NAME_TAILS}) + r")[_\-.]?)?"
               + _trie({w.lower()[::-1] for w in _NAME_WORDS}) + r"))")
_REVERSED = tuple((rule, sep, re.compile(re.escape(sep) + pattern)) for rule, sep, pattern in (
    ("name_equals_value", "=", _KEYED_NAME),
    ("name_colon_value", ":", _KEYED_NAME),
    # SQL: ... WITH PASSWORD 'x', IDENTIFIED BY 'x'
    ("sql_password", "'", r"(?P<sql_gap>[ \t]{1,8})(?P<sql_name>DROWSSAP|drowssap|YB[ \t]{1,8}DEIFITNEDI|yb[ \t]{1,8}deifitnedi)"),
))

_RUN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_COMPONENT = re.compile(r"[A-Z]+[0-9]*(?![a-z])|[A-Z]?[a-z]+[0-9]*|[0-9]+")
_TAILS = frozenset(t.lower() for t in _NAME_TAILS)
_PASSWORD_WORDS = ("password", "passwd", "passphrase", "pwd")
# Words that make a name about a secret rather than the secret: forgot_password, is_secret, max_token.
_NOT_SECRET_BEFORE = frozenset("""forgot reset hash hashed check verify validate show toggle require requires
    min max is has use enable enabled disable allow policy strength rule rules field label placeholder prompt
    expose no skip""".split())
_NOT_SECRET_TOKENS = frozenset("""next page continuation cancellation cancel eos bos pad unk sep cls mask
    start end special max min num n input output total last first prev previous sync resume stop lexer
    parser parse sub word bpe""".split())
_KEY_QUALIFIERS = frozenset("""api secret access private account shared sharedaccess preshared client master
    encryption encrypt decryption signing sign subscription app auth hmac license session service functions
    function webhook admin write storage sas tls ssh gpg pgp consumer jwt deploy root secure cipher aes role
    ingest""".split())
_GLUED_PASS = ("storepass", "keypass", "requirepass", "masterauth", "passin", "passout")


@functools.lru_cache(maxsize=4096)
def _name_class(name: str) -> str | None:
    """What a name says its value is: "password" (any word may be one), "secret" (a token: taken only
    if token-shaped, so that ``token = "music"`` in NLP code stays), "authorization", "cookie",
    "value" (the value half of a name/value pair), or None (not a secret)."""
    comps = [c.lower() for c in _COMPONENT.findall(name)]
    while len(comps) > 1 and (comps[-1].isdigit() or comps[-1] in _TAILS):
        comps.pop()
    if not comps:
        return None
    comps[-1] = comps[-1].rstrip("0123456789") or comps[-1]  # password2, TOKEN_1
    last = comps[-1]
    prev = comps[-2] if len(comps) > 1 else ""
    if any(c in _NOT_SECRET_BEFORE for c in comps[:-1]):
        return None
    if last in _PASSWORD_WORDS or last == "pass" or last.endswith(_PASSWORD_WORDS) or last in _GLUED_PASS:
        return "password"
    if last == "secret" or last.endswith("secret"):
        return "secret"
    if last.endswith("token"):
        qualifier = prev if last == "token" else last[:-5]
        return None if qualifier in _NOT_SECRET_TOKENS else "secret"
    if last.endswith("key"):
        qualifier = prev if last == "key" else last[:-3]
        if qualifier == "access" and len(comps) > 2 and comps[-3] == "secret":
            return "secret"
        return "secret" if qualifier in _KEY_QUALIFIERS else None
    if last in ("credential", "credentials", "creds", "dockerconfigjson", "dockercfg") or (last == "pat" and prev):
        return None if prev == "amz" else "secret"  # X-Amz-Credential: an access key id and a scope
    if last in ("auth", "basicauth"):
        return "secret" if len(comps) == 1 or prev in ("basic", "http", "proxy") else None
    if last == "sig" or (last == "signature" and prev == "amz"):
        return "secret"
    if last == "authorization":
        return "authorization"
    if last == "cookie":
        return "cookie"
    if last == "value" and len(comps) == 1:
        return "value"
    return None


def _token_shaped(value: str) -> bool:
    """Random-looking enough to be a token: a digit or a symbol in it, mixed case, or long."""
    if len(value) < 8:
        return False
    if len(value) >= 24 or not value.isalpha():
        return True
    return sum(c.isupper() for c in value[1:]) >= 2 and any(c.islower() for c in value)


def _taken(cls: str, value: str, *, quoted: bool, sep: str = "", after: str = "") -> bool:
    """Whether ``value``, given to a name of class ``cls``, is a secret to redact."""
    if _not_secret(value, quoted=quoted, sep=sep, after=after):
        return False
    return cls != "secret" or _token_shaped(value)


# --- values -------------------------------------------------------------------------------------

_VALUE = re.compile(
    r"\\{1,3}\"(?P<edq>[^\"\\\r\n]{0,8192})"  # \"value\" (escaped JSON inside a string)
    r"|\"(?P<dq>(?:[^\"\\\r\n]|\\[^\r\n]){0,8192})"  # "value", escapes and all
    r"|\\{1,3}'(?P<esq>[^'\\\r\n]{0,8192})"
    r"|'(?P<sq>[^'\r\n]{0,8192})"
    r"|(?P<bare>[^\s\"'\\`,;&|<>]{1,8192})"
)
_BARE_MORE = r"&[^\s\"'\\`,;&|<>]{0,8192}"
_QUERY_PARAM = r"&[A-Za-z0-9_.\-\[\]]{1,64}="  # where a value in a URL's query ends
_KEYWORDS = frozenset("""none null nil true false yes no on off undefined required optional empty string str
    int integer bool boolean number float bytes object any text secretstr unknown include omit same-origin
    password passwd pass secret token key apikey changeme change_me changeit replace_me placeholder redacted
    hidden masked example dummy test todo fixme tbd xxx bearer basic digest ntlm negotiate jwt oauth
    anyauth await async new this self yield lambda function return default env stdin foobared""".split())
_PLACEHOLDER = re.compile(r"(?i:your[-_ .]|[-_ ]here$|^(?:enter|insert|replace|put|add|paste)[-_ ])|xxxx|XXXX|\.\.\.")
_DOTTED = re.compile(r"[A-Za-z_$][A-Za-z_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_]*")
_PROSE = re.compile(r"[A-Z][a-z]+(?: [A-Za-z0-9',]+){2,}[.!?]?")
_TEMPLATE = re.compile(r"\{[A-Za-z_][A-Za-z0-9_.]{0,64}\}")  # f"{token}", "{password}".format(...)


def _not_secret(value: str, *, quoted: bool, sep: str = "", after: str = "") -> bool:
    """A placeholder or code, not a secret: ``$X``, ``${X}``, ``<your-key>``, ``None``, ``getpass()``,
    ``self.password``, ``str`` (an annotation), ``****``, a path, a sentence."""
    if len(value) < (3 if quoted else 4) or value.startswith("[REDACTED:") or value[0].isspace():
        return True  # a space first: the end of a prompt string ("Password: " PASSWORD), not a value
    lower = value.lower()
    if lower in _KEYWORDS or value[0] in "$<" or len(set(value)) == 1:
        return True
    if value[0] == "%" and (value[1].isalpha() or value[1] == "("):
        return True  # %s, %(password)s, %DB_PASSWORD%
    if ("${" in value or "{{" in value or "$(" in value or "%(" in value or "<" in value or _PLACEHOLDER.search(value)
            or "{" in value and _TEMPLATE.search(value)):
        return True
    if value[0] in "/~." and "/" in value:
        return True  # a path: --password-file style, or $PWD
    if quoted:
        return " " in value and _PROSE.fullmatch(value) is not None  # "Password must be 8 characters"
    if value[0] in "{[(*&!#`|>":
        return True  # {password}, [REDACTED], *, &str, !Ref, a comment, a YAML block
    if after == "(" or "(" in value or "[" in value or "{" in value:
        return True  # getpass(), os.environ["X"], env("X")
    if _DOTTED.fullmatch(value.rstrip("!?")):
        return True  # self.password, settings.SECRET_KEY, process.env.TOKEN!
    if _IDENTIFIER.fullmatch(value):  # a bare word without digits
        if ("_" in value and not value.isupper()) or (_name_class(value) and not value.islower()):
            return True  # token=access_token, password=dbPassword, password=db_pass_var: a variable
        if sep == ":" and value[0].isupper() and not value.isupper():
            return True  # token: CancellationToken, api_key: SecretStr: a type
    return False


def _read_value(text: str, pos: int) -> tuple[int, int, bool] | None:
    """(start, end, quoted) of the value at ``pos`` (spaces skipped), or None."""
    n = len(text)
    limit = min(n, pos + 16)
    while pos < limit and text[pos] in " \t":
        pos += 1
    m = _VALUE.match(text, pos)
    if m is None:
        return None
    name = m.lastgroup
    start, end = m.span(name)
    if name == "bare":
        while end - start < 8192 and text.startswith("&", end) and not _compiled(_QUERY_PARAM).match(text, end):
            end = _compiled(_BARE_MORE).match(text, end).end()  # Tr0ub4dor&3 is one password; ?token=abc&page=2 is not
        while end > start and text[end - 1] in ".,)]}:":
            end -= 1  # "...the password=hunter22." / f(token=abc)
    if end <= start:
        return None
    return start, end, name != "bare"


# --- what is found, as spans ---------------------------------------------------------------------

def _add(spans, start, end, kind, priority=0):
    if end > start:
        spans.append((start, end, kind, priority))


def _token(m, text, spans, memo=None):
    """A token whose prefix ends at this separator; returns where to search on (after its body)."""
    sep = m.start()
    for prefix, kind, body in _PREFIXES.get(text[max(0, sep - 2):sep + 1], ()):
        start = sep + 1 - len(prefix)
        if start < 0 or not text.startswith(prefix, start):
            continue
        if start > 0 and text[start - 1] in _RUN_CHARS:
            return None  # inside a longer word: "task-..." is not "sk-..."
        found = _compiled(body).match(text, sep + 1)
        if found:
            value = found.group()
            if "xxxx" not in value.lower() and len(set(value)) > 3:  # not sk_test_xxxxxxxx
                _add(spans, start, found.end(), kind, 1)
            return found.end()  # a run is read once
    return None


def _jwt(m, text, spans, memo=None):
    start = m.start()
    floor = max(0, start - 4096)
    while start > floor and text[start - 1] in _NAME_CHARS and text[start - 1] != ".":
        start -= 1  # back over the header segment
    if text.startswith("eyJ", start) and m.start() - start >= 10 and m.end() - m.start() > 12:
        _add(spans, start, m.end(), "jwt", 1)


def _terraform(m, text, spans, memo=None):
    start = m.start() - 14
    if start >= 0 and all(c.isalnum() and c.isascii() for c in text[start:m.start()]) and (
            start == 0 or text[start - 1] not in _NAME_CHARS):
        _add(spans, start, m.end(), "terraform_token", 1)


def _telegram(m, text, spans, memo=None):
    start = m.start()
    floor = max(0, start - 10)
    while start > floor and text[start - 1].isdigit():
        start -= 1
    if m.start() - start >= 8 and (start == 0 or not text[start - 1].isalnum()):
        _add(spans, start, m.end(), "telegram_token", 1)


def _group_span(kind, group, priority=1, placeholders=False):
    def handler(m, text, spans, memo=None):
        if not (placeholders and _not_secret(m.group(group), quoted=True)):
            _add(spans, m.start(group), m.end(group), kind, priority)
    return handler


def _url(m, text, spans, memo=None):
    pw = m.group("url_pw")
    if pw is not None:
        if not _not_secret(pw, quoted=True) and not ("?" in pw and pw.split("?", 1)[0].isdigit()):
            _add(spans, m.start("url_pw"), m.end("url_pw"), "url_password")
        return
    token = m.group("url_token")
    if any(c.isdigit() for c in token) and any(c.isalpha() for c in token):
        _add(spans, m.start("url_token"), m.end("url_token"), "url_password")


def _oracle(m, text, spans, memo=None):
    if not _not_secret(m.group("ora_pw"), quoted=True):
        _add(spans, m.start("ora_pw"), m.end("ora_pw"), "url_password")


def _pgpass(m, text, spans, memo=None):
    line_start = text.rfind("\n", max(0, m.start() - 256), m.start()) + 1
    host = text[line_start:m.start()].lstrip(" \t\"'")
    line_end = text.find("\n", m.end(), m.end() + 256)
    rest = text[m.end():line_end if line_end >= 0 else min(len(text), m.end() + 256)]
    if (host and (host == "*" or re.fullmatch(r"[A-Za-z0-9_.\-\[\]]{1,253}", host) and not host.isdigit())
            and rest.strip(" \t\r\"'") == "" and not _not_secret(m.group("pgpass_pw"), quoted=True)):
        _add(spans, m.start("pgpass_pw"), m.end("pgpass_pw"), "config_value")


def _bearer(m, text, spans, memo=None):
    value = m.group("bearer_value")
    if (any(c.isdigit() for c in value) or len(value) >= 32) and not _not_secret(value, quoted=True):
        _add(spans, m.start("bearer_value"), m.end("bearer_value"), "bearer")


def _basic(m, text, spans, memo=None):
    import base64  # here: rarely needed, and the hook path imports this module on every call
    import binascii

    value = m.group("basic_value")
    try:  # user:password in base64, or it is just the word Basic before something else
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return
    if b":" in decoded:
        _add(spans, m.start("basic_value"), m.end("basic_value"), "bearer")


def _xml(m, text, spans, memo=None):
    """``<password>value</password>``: the value between the opening tag and this closing one."""
    name = m.group("xml_name")
    if _name_class(name) not in ("password", "secret"):
        return
    end = m.start()  # the "<" of "</"
    start = text.rfind(">", max(0, end - 1024), end) + 1
    if start <= 0 or not text[max(0, start - 1 - len(name)):start - 1].endswith(name):
        return
    value = text[start:end]
    stripped = value.strip()
    if stripped and "<" not in value and "\n" not in stripped and _taken(_name_class(name), stripped, quoted=True):
        lead = len(value) - len(value.lstrip())
        _add(spans, start + lead, start + lead + len(stripped), "config_value")


def _value_after(kind):
    def handler(m, text, spans, memo=None):
        found = _read_value(text, m.end())
        if found and not _not_secret(text[found[0]:found[1]], quoted=found[2]):
            _add(spans, found[0], found[1], kind)
    return handler


# Commands whose short flags carry a password, and how: (family, flag) -> (attached, spaced, form).
_CLI_FAMILIES = {
    **dict.fromkeys(("mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlcheck", "mysqlshow", "mysqlslap",
                     "mysqlpump", "mysqlbinlog", "mariadb", "mariadb-dump", "mariadb-admin", "mariadb-import"),
                    "mysql"),
    "sshpass": "sshpass",
    **dict.fromkeys(("docker", "podman", "nerdctl", "buildah", "skopeo", "oras", "helm", "crane", "oc", "cf",
                     "az", "regctl"), "login"),
    "twine": "twine",
    **dict.fromkeys(("mongo", "mongosh", "mongodump", "mongorestore", "mongoexport", "mongoimport", "mongostat",
                     "mongotop", "mongofiles"), "mongo"),
    **dict.fromkeys(("sqlcmd", "bcp", "osql"), "sqlcmd"),
    **dict.fromkeys(("redis-cli", "keydb-cli", "valkey-cli"), "redis"),
    **dict.fromkeys(("zip", "unzip"), "zip"),
    **dict.fromkeys(("7z", "7za", "7zz", "7zr", "rar", "unrar"), "7z"),
    **dict.fromkeys(("ldapsearch", "ldapmodify", "ldapadd", "ldapdelete", "ldapwhoami", "ldappasswd",
                     "ldapcompare", "ldapmodrdn", "ldapexop"), "ldap"),
    "curl": "curl",
    **dict.fromkeys(("http", "https", "xh", "xhs"), "httpie"),
    "smbclient": "smb",
    "lftp": "lftp",
    "gh": "gh",
    "sudo": "sudo",
}
_CLI_FLAGS = {
    ("mysql", "p"): (True, False, "value"),  # -pSECRET; "-p name" prompts and names a database
    ("sshpass", "p"): (True, True, "value"),
    ("login", "p"): (True, True, "value"),  # docker login -p, az login -p, oc login -p
    ("twine", "p"): (True, True, "value"),
    ("mongo", "p"): (True, True, "value"),
    ("sqlcmd", "P"): (True, True, "value"),
    ("redis", "a"): (True, True, "value"),
    ("zip", "P"): (False, True, "value"),
    ("7z", "p"): (True, False, "value"),
    ("ldap", "w"): (True, True, "value"),
    ("curl", "u"): (True, True, "user:"), ("curl", "U"): (True, True, "user:"),
    ("curl", "user"): (False, True, "user:"), ("curl", "proxy-user"): (False, True, "user:"),
    ("httpie", "a"): (True, True, "user:"), ("httpie", "auth"): (False, True, "user:"),
    ("smb", "U"): (True, True, "user%"),
    ("lftp", "u"): (True, True, "user,"),
    ("gh", "b"): (True, True, "value"), ("gh", "body"): (False, True, "value"),  # gh secret set NAME -b VALUE
    ("sudo", "S"): (False, False, "stdin"),  # echo PASSWORD | sudo -S
}
_COMMAND_BREAK = re.compile(r"[|;\n]|&&|\$\(|`")
_CLI_COMMAND = (r"(?<![\w\-.])(?:[\w.\-]*/)?(" + "|".join(sorted(map(re.escape, _CLI_FAMILIES), key=len, reverse=True))
                          + r")(?![\w\-.])")
_CLI_SUBCOMMAND = {"login": r"[ \t]login(?![\w\-])", "gh": r"[ \t]secrets?[ \t]+set(?![\w\-])"}


def _command(text: str, pos: int, memo: dict) -> str | None:
    """The family of the command a flag at ``pos`` belongs to: the last known command word between
    the start of its simple command (a newline, ``|``, ``;``, ``&&``, ``$(``) and the flag. Command
    boundaries are found once per text and command words once per segment, so that a text full of
    flags costs one pass (``memo`` lives for one ``redact_text`` call)."""
    breaks = memo.get("breaks")
    if breaks is None:
        breaks = memo["breaks"] = [m.end() for m in _COMMAND_BREAK.finditer(text)]
    i = bisect.bisect_right(breaks, pos) - 1
    start = breaks[i] if i >= 0 else 0
    commands = memo.get(start)
    if commands is None:
        end = breaks[i + 1] if i + 1 < len(breaks) else len(text)
        commands = []
        for m in _compiled(_CLI_COMMAND).finditer(text, start, end):
            family = _CLI_FAMILIES[m.group(1).lower()]
            sub = _CLI_SUBCOMMAND.get(family)
            if sub:  # docker login, gh secret set: the subcommand's position, found once
                found = _compiled(sub).search(text, m.end(), end)
                commands.append((m.end(), family, found.end() if found else None))
            else:
                commands.append((m.end(), family, m.end()))
        memo[start] = commands
    j = bisect.bisect_right(commands, (pos, "", 0)) - 1
    if j < 0:
        return None
    _, family, ready = commands[j]
    return family if ready is not None and ready <= pos else None


_ECHO = (r"(?:echo|printf)(?:[ \t]+-[neE]{1,3})*(?:[ \t]+(?:'%s(?:\\n)?'|\"%s(?:\\n)?\"|%s))?"
                   r"[ \t]+(?P<v>\"[^\"\n]{1,512}\"|'[^'\n]{1,512}'|[^\s|;&'\"]{1,512})[ \t]*$")
_HERESTRING = r"[^\n|;&]{0,200}?<<<[ \t]*(?P<v>\"[^\"\n]{1,512}\"|'[^'\n]{1,512}'|[^\s|;&'\"]{1,512})"


def _stdin_secret(text: str, pos: int, end: int, spans) -> None:
    """``echo SECRET | cmd --password-stdin`` (or ``<<< SECRET`` after it)."""
    line_start = max(text.rfind("\n", max(0, pos - 400), pos) + 1, pos - 400)
    before = text[line_start:pos]
    pipe = before.rfind("|")
    found = None
    if pipe >= 0:
        for word in ("echo", "printf"):
            at = before.rfind(word, 0, pipe)
            while at >= 0 and not (at == 0 or before[at - 1] in " \t;&("):
                at = before.rfind(word, 0, at)  # "printf-pw" inside the value is not the command
            m = _compiled(_ECHO).match(before, at, pipe) if at >= 0 else None
            if m:
                found = (line_start + m.start("v"), line_start + m.end("v"))
                break
    if found is None:
        m = _compiled(_HERESTRING).match(text, end)
        if m:
            found = m.span("v")
    if found:
        start, stop = found
        if text[start] in "\"'":
            start, stop = start + 1, stop - 1
        if not _not_secret(text[start:stop], quoted=True):
            _add(spans, start, stop, "cli_secret")


def _cli(m, text, spans, memo):
    if m.group("cli_stdin"):
        _stdin_secret(text, m.start(), m.end(), spans)
        return
    long_flag = m.group("cli_long")
    if long_flag:
        family = _command(text, m.start(), memo)
        rule = _CLI_FLAGS.get((family, long_flag))
        if rule is None:
            cls = _name_class(long_flag)
            if cls not in ("password", "secret"):
                return
            rule = (False, True, cls)
        flag_end = m.end("cli_gap")
        attached = False
    else:
        letter = m.group("cli_short")
        family = _command(text, m.start(), memo)
        rule = _CLI_FLAGS.get((family, letter))
        if rule is None:
            return
        flag_end = m.end("cli_short")
        attached = flag_end < len(text) and text[flag_end] not in " \t\r\n"
        if rule[2] == "stdin":
            _stdin_secret(text, m.start(), flag_end, spans)
            return
        if attached and not rule[0] or not attached and not rule[1]:
            return
    found = _read_value(text, flag_end)
    if not found:
        return
    start, end, quoted = found
    value = text[start:end]
    if not attached and not quoted and value.startswith("-"):
        return  # the next flag
    form = rule[2]
    if form in ("user:", "user%", "user,"):
        cut = value.find(form[-1])
        if cut < 0:
            return
        start += cut + 1
        value = value[cut + 1:]
        if value.isdigit() and len(value) <= 6:
            return  # uid:gid
    elif value.startswith("pass:"):  # openssl -passin pass:SECRET
        start, value = start + 5, value[5:]
    elif value.split(":", 1)[0] in ("env", "file", "fd", "stdin"):
        return
    if _taken("secret" if form == "secret" else "password", value, quoted=quoted or attached):
        _add(spans, start, start + len(value), "cli_secret")


_FORWARD_HANDLERS = {
    **dict.fromkeys(("token", "dtoken", "ttoken"), _token),
    "cli": _cli,
    "pk": _group_span("private_key", "pk_body"),
    "ppk": _group_span("private_key", "ppk_body"),
    "jwt": _jwt,
    "slack_hook": _group_span("slack_webhook", "slack_hook"),
    "discord_hook": _group_span("discord_webhook", "discord_hook"),
    "tfc": _terraform,
    "url": _url,
    "ora": _oracle,
    "sqlplus": _group_span("url_password", "sqlplus_pw", 0, placeholders=True),
    "pgpass": _pgpass,
    "telegram": _telegram,
    "xml": _xml,
    **{k: (lambda kind: lambda m, text, spans, memo=None: _add(spans, m.start(), m.end(), kind, 1))(k)
       for k in ("google_key", "aws_access_key", "atlassian_token", "age_key", "databricks_token")},
    "bearer": _bearer,
    "basic": _basic,
    "netrc": _value_after("config_value"),
    "redis_conf": _value_after("config_value"),
}

_ATTRIBUTES = frozenset("path domain expires max-age samesite secure httponly priority partitioned version comment".split())
_PAIR_NAME = (r"(?:name|Name|NAME|key|Key|KEY)\\{0,3}[\"']?[ \t]*[:=][ \t]*\\{0,3}[\"']?"
                        r"([A-Za-z0-9_./:\-]{1,100})")
_AUTH_VALUE = r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9\-]{1,24})[ \t]{1,8})?(?P<cred>[^\s\"'\\,;]{8,4096})"
_PROSE_AFTER = re.compile(r",| +[A-Za-z]")
_ANNOTATED = r"(?:[ \t]*\|[ \t]*[A-Za-z_][A-Za-z0-9_.\[\]]{0,40})?[ \t]*=[ \t]*(?=[\"'])"
_MULTI_PART_SCHEMES = frozenset(("digest", "aws4-hmac-sha256", "oauth", "signature", "hoba", "mutual"))


def _cookie_spans(text, start, end, spans):
    """The values in ``name=value; name=value`` (a Cookie or Set-Cookie header), attributes left alone."""
    pos = start
    for part in text[start:end].split(";"):
        part_start, pos = pos, pos + len(part) + 1
        eq = part.find("=")
        if eq < 0:
            continue
        name = part[:eq].strip().lower()
        raw = part[eq + 1:]
        value = raw.strip()
        v_start = part_start + eq + 1 + len(raw) - len(raw.lstrip())
        if name in _ATTRIBUTES or not value:
            continue
        if value[0] == '"' and value[-1] == '"' and len(value) > 1:
            value, v_start = value[1:-1], v_start + 1
        sessionish = any(w in name for w in ("sess", "sid", "auth", "token", "jwt", "remember", "login", "csrf"))
        if len(value) >= 16 or (sessionish and len(value) >= 4):
            _add(spans, v_start, v_start + len(value), "cookie")


def _keyed(m, text, n, spans) -> int:
    """One ``name <sep> value`` found in the reversed text; returns where its value ends (or -1)."""
    sep_pos = n - 1 - m.start()
    sep = text[sep_pos]
    name_end = n - m.start("k_name")
    start = n - m.end("k_name")
    floor = max(0, start - 80)
    while start > floor and text[start - 1] in _NAME_CHARS:
        start -= 1
    if start > 0 and (text[start - 1] == "$" or (text[start - 1] == "{" and start > 1 and text[start - 2] == "$")):
        return -1  # ${DB_PASSWORD:-default}: a variable named, not set
    name = text[start:name_end]
    cls = _name_class(name)
    if cls is None:
        return -1
    gap = text[name_end:sep_pos]
    quoted_name = "\"" in gap or "'" in gap
    flag = name.startswith("-")
    pos = sep_pos + 1
    if pos < n and ((sep == ":" and text[pos] == "=") or (sep == "=" and text[pos] == ">")):
        pos += 1  # := and =>
    elif pos < n and text[pos] == "=" or sep == ":" and text.startswith("//", pos):
        return -1  # a comparison (password == x), or a URL
    if cls == "authorization":
        v = _compiled(_AUTH_VALUE).match(text, _skip_quote(text, pos))
        if v is None:
            return -1
        scheme = (v.group("scheme") or "").lower()
        cred_start, cred_end = v.span("cred")
        if scheme in _MULTI_PART_SCHEMES:
            line_end = min(x for x in (text.find("\n", cred_start), text.find("\"", cred_start),
                                       text.find("'", cred_start), n) if x >= 0)
            cred_end = line_end
        cred = text[cred_start:cred_end]
        if not _not_secret(cred, quoted=True) and cred.lower() not in ("bearer", "basic", "token"):
            _add(spans, cred_start, cred_end, "bearer")
        return cred_end
    if cls == "cookie":
        vstart = _skip_quote(text, pos)
        vend = vstart
        while vend < n and vend - vstart < 4096 and text[vend] not in "\r\n\"'\\":
            vend += 1
        _cookie_spans(text, vstart, vend, spans)
        return vend
    found = _read_value(text, pos)
    if found is None:
        return -1
    vstart, vend, quoted = found
    value = text[vstart:vend]
    if value.startswith("-----BEGIN"):
        return vstart  # a key block: its own rule takes the body and leaves the BEGIN and END lines
    if sep == ":" and start > 0 and text[start - 1] == ":" and not quoted:
        return vend  # arn:aws:secretsmanager:...:secret:prod/db: a path of names, not a setting
    if cls == "value":  # - name: DB_PASSWORD / value: x, key="ApiKey" value="x", {"Name": ..., "Value": ...}
        names = _compiled(_PAIR_NAME).findall(text, max(0, start - 160), start)
        cls = _name_class(names[-1]) if names else None
        if cls not in ("password", "secret"):
            return vend
    after = text[vend] if vend < n else ""
    if not quoted and sep == ":":
        annotated = _compiled(_ANNOTATED).match(text, vend)
        if annotated and _IDENTIFIER.fullmatch(value.split("[", 1)[0]):  # api_key: str = "...", a default
            found = _read_value(text, annotated.end())
            if found is None or not found[2]:
                return vend
            vstart, vend, quoted = found
            value, after = text[vstart:vend], ""
    if not _taken(cls, value, quoted=quoted, sep=sep, after=after):
        return vend
    if not quoted and sep == ":" and value.isalpha() and _PROSE_AFTER.match(text, vend):
        return vend  # "Process a single token: embed, visualize, ...": a sentence
    if flag:
        kind = "cli_secret"
    elif sep == "=" and not gap and not quoted_name and _name_class(name) != "value":
        kind = "assignment"
    else:
        kind = "config_value"
    _add(spans, vstart, vend, kind)
    return vend


def _skip_quote(text, pos):
    n = len(text)
    limit = min(n, pos + 16)
    while pos < limit and text[pos] in " \t":
        pos += 1
    while pos < n and text[pos] == "\\" and pos < limit:
        pos += 1
    if pos < n and text[pos] in "\"'":
        pos += 1
    return pos


def _sql(m, text, n, spans) -> int:
    quote = n - 1 - m.start()
    name_start = n - m.end("sql_name")
    if text[name_start].lower() == "p":  # WITH PASSWORD 'x' / ALTER USER x PASSWORD 'x'
        context = text[max(0, name_start - 80):name_start].lower()
        if not any(w in context for w in ("with", "user", "role", "login")):
            return -1
    end = text.find("'", quote + 1, quote + 1 + 512)
    if end < 0 or "\n" in text[quote + 1:end]:
        return -1
    if not _not_secret(text[quote + 1:end], quoted=True):
        _add(spans, quote + 1, end, "config_value")
    return end


def _spans(text: str, m) -> list:
    """(start, end, kind, priority) of every secret in ``text``; ``m``: the forward search's first match."""
    spans: list = []
    memo: dict = {}
    search = _FORWARD.search
    while m:
        resume = _FORWARD_HANDLERS[m.lastgroup](m, text, spans, memo)
        m = search(text, max(resume or 0, m.end() if m.end() > m.start() else m.end() + 1))
    n = len(text)
    if n >= 15:
        for _, min_len, needle, pattern in _GATED:
            if n >= min_len and needle in text:
                for m in _compiled(pattern).finditer(text):
                    _FORWARD_HANDLERS[m.lastgroup](m, text, spans, memo)
    found = None
    for _, sep, regex in _REVERSED:
        if sep in text:
            if found is None:
                reversed_text, found = text[::-1], []
            m = regex.search(reversed_text)
            if m:
                found.append(m)
                found += regex.finditer(reversed_text, m.end())
    if found:
        found.sort(key=lambda m: -m.start())  # in text order, so a value read once is not read again
        value_end = -1
        for m in found:
            if n - 1 - m.start() < value_end:
                continue
            end = (_keyed if m.lastgroup != "sql_name" else _sql)(m, text, n, spans)
            value_end = max(value_end, end)
    return spans


def _apply(text: str, spans: list) -> str:
    """``text`` with the spans replaced; overlapping spans become one, named by the first (a name's
    value before the token inside it: ``GITHUB_TOKEN=[REDACTED:assignment]``)."""
    spans.sort(key=lambda s: (s[0], s[3], -s[1]))
    out, pos = [], 0
    cur_start, cur_end, cur_kind = spans[0][0], spans[0][1], spans[0][2]
    for start, end, kind, _ in spans[1:]:
        if start < cur_end:
            cur_end = max(cur_end, end)
            continue
        out += (text[pos:cur_start], f"[REDACTED:{cur_kind}]")
        pos, cur_start, cur_end, cur_kind = cur_end, start, end, kind
    out += (text[pos:cur_start], f"[REDACTED:{cur_kind}]", text[cur_end:])
    return "".join(out)


# A UUID or an ISO 8601 timestamp: a quarter of the strings in a transcript or a hook payload, and
# nothing in them can match a rule (test_uuids_and_timestamps_hold_nothing).
_PLAIN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_HEX_DIGITS = frozenset("0123456789abcdef")


def redact_text(text: str) -> str:
    """``text`` with every secret replaced by ``[REDACTED:<kind>]``."""
    if not isinstance(text, str) or len(text) < 8:
        return text
    if len(text) <= 36 and text[0] in _HEX_DIGITS and _PLAIN.fullmatch(text):
        return text
    m = _FORWARD.search(text)
    if m is None and "=" not in text and ":" not in text and "'" not in text:
        n = len(text)
        for _, min_len, needle, _ in _GATED:
            if n >= min_len and needle in text:
                break
        else:
            return text  # no marker at all: the common case
    spans = _spans(text, m)
    return _apply(text, spans) if spans else text


def has_secret(text: str) -> bool:
    return isinstance(text, str) and redact_text(text) != text


# --- JSON ----------------------------------------------------------------------------------------

def _member(cls: str | None, value):
    """A string or number under a key of class ``cls``, redacted (the text rules first, then the whole
    value if the key says it is a secret)."""
    if isinstance(value, str):
        out = redact_text(value)
        if out != value or cls is None:
            return out
        if cls == "cookie":
            spans: list = []
            _cookie_spans(value, 0, len(value), spans)
            return _apply(value, spans) if spans else value
        if cls == "value" or not _taken("password" if cls == "authorization" else cls, value, quoted=True):
            return value
        return "[REDACTED:bearer]" if cls == "authorization" else "[REDACTED:config_value]"
    if cls == "password" and isinstance(value, (int, float)) and not isinstance(value, bool) and (
            abs(value) >= 1000):
        return "[REDACTED:config_value]"  # "password": 12345678
    return value


_KEY_CLASSES: dict = {}  # dict key -> _name_class(key): the same few keys recur in every payload


def _key_class(key):
    cls = _KEY_CLASSES.get(key, 0)
    if cls == 0:
        if len(_KEY_CLASSES) > 4096:
            _KEY_CLASSES.clear()
        cls = _KEY_CLASSES[key] = _name_class(key) if isinstance(key, str) else None
    return cls


def _redact_tree(root, copy: bool):
    """``root`` with every string redacted, walked without recursion (a payload may be nested deeper
    than the interpreter's stack); (value, changed). With ``copy`` the containers are new."""
    if isinstance(root, str):
        out = redact_text(root)
        return out, out != root
    if not isinstance(root, (dict, list)):
        return root, False
    top = (dict(root) if isinstance(root, dict) else list(root)) if copy else root
    stack = [top]
    changed = False
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            pair = None  # {"name": "DB_PASSWORD", "value": "x"}: the value is the secret
            if "value" in node or "Value" in node:
                for k in ("name", "Name", "key", "Key"):
                    if isinstance(node.get(k), str) and _name_class(node[k]) in ("password", "secret"):
                        pair = _name_class(node[k])
            for k, v in node.items():
                t = v.__class__
                if t is str:
                    cls = _KEY_CLASSES.get(k, 0)
                    if cls == 0:
                        cls = _key_class(k)
                    if pair and k in ("value", "Value"):
                        cls = pair
                    if cls is None:
                        if len(v) < 8:
                            continue
                        new = redact_text(v)
                    else:
                        new = _member(cls, v)
                    if new != v:
                        node[k] = new
                        changed = True
                elif t is dict or t is list:
                    if copy:
                        v = node[k] = t(v)
                    stack.append(v)
                elif t is int or t is float or t is bool or v is None:
                    if t is not bool and v is not None and _key_class(k) == "password":
                        new = _member("password", v)
                        if new is not v:
                            node[k] = new
                            changed = True
                elif isinstance(v, (dict, list)):  # subclasses, from redact_value's callers
                    if copy:
                        v = node[k] = dict(v) if isinstance(v, dict) else list(v)
                    stack.append(v)
                elif isinstance(v, str):
                    new = _member(_key_class(k), v)
                    if new != v:
                        node[k] = new
                        changed = True
        else:
            for i, v in enumerate(node):
                t = v.__class__
                if t is str:
                    if len(v) >= 8:
                        new = redact_text(v)
                        if new != v:
                            node[i] = new
                            changed = True
                elif t is dict or t is list:
                    if copy:
                        v = node[i] = t(v)
                    stack.append(v)
                elif isinstance(v, (dict, list)):
                    if copy:
                        v = node[i] = dict(v) if isinstance(v, dict) else list(v)
                    stack.append(v)
                elif isinstance(v, str):
                    new = redact_text(v)
                    if new != v:
                        node[i] = new
                        changed = True
    return top, changed


def redact_value(value):
    """A decoded JSON value (dict, list, str, number, None) with every string in it redacted, and the
    value under a secret-sounding key too; dict keys stay as they are. Returns a new value."""
    return _redact_tree(value, copy=True)[0]


def redact_json_text(text: str) -> str:
    """A JSON document with every string in it redacted (or, if it is not JSON, the text redacted).
    Always decoded: a secret may hide behind escapes (``\\"password\\": ...``, ``\\u0070assword``)."""
    if not isinstance(text, str):
        return text
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past what can be decoded
        return redact_text(text)
    value, changed = _redact_tree(value, copy=False)
    if not changed:
        return text  # as it came, byte for byte
    try:
        out = json.dumps(value, ensure_ascii=False)
    except RecursionError:  # decodable, but too deep to encode again: redact it as text
        return redact_text(text)
    try:
        out.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (\ud800) decoded from the payload: keep it escaped
        out = json.dumps(value)
    return out


def enabled() -> bool:
    return os.environ.get(NO_REDACT_ENV) != "1"
