"""Secrets out of what is stored: API keys, tokens, private keys, passwords in URLs and assignments.

Applied by the store to the columns ``schema.REDACTED`` names (tool inputs and outputs, prompts,
messages, raw hook payloads, job prompts and results, error text), so every source is redacted the
same way. A secret becomes ``[REDACTED:<kind>]``; what surrounds it stays, so a command is still
readable (``export OPENAI_API_KEY=[REDACTED:assignment]``). JSON columns are always decoded, every
string in them redacted (and the value under a secret-sounding key), and encoded again; a text that
is itself JSON, or JSON escaped inside a string (``\\"password\\": \\"...\\"``), is caught too.

Placeholders are left alone (``${DB_PASSWORD}``, ``<your-token>``, ``{{ vault_pw }}``, ``****``, a
path, a UI sentence), and a private key block is taken only when it has a body, which goes (the
BEGIN and END lines stay).

Every pattern runs in linear time: Python's ``re`` backtracks, so a search starts from a literal and
a run of characters is never rescanned from inside itself (tests/test_redact.py times each rule on
adversarial input).

``CLAUDE_INGEST_NO_REDACT=1`` (or ``--no-redact`` on the commands) stores everything as it came.
Standard library only: the hook path uses it.
"""

from __future__ import annotations

import json
import os
import re

NO_REDACT_ENV = "CLAUDE_INGEST_NO_REDACT"

# A value inside text that may itself be inside a JSON string: no quotes, no backslashes, no space.
_V = r"[^\s\"'\\`]"
_ENV_SECRET = (r"(?:API_?KEY|ACCESS_?KEY|SECRET(?:_?KEY)?|PRIVATE_?KEY|TOKEN|PASSWORD|PASSWD|PASSPHRASE|_PASS|_PWD|"
               r"CREDENTIALS?)")

# Token-shaped secrets: each pattern starts with a literal, so the regex engine finds candidates
# with its fast prefix search; the word boundary before a match is checked in the callback (a
# leading \b would switch that search off).
_TOKENS = (
    # One search per literal prefix; named groups say which secret it was.
    (r"sk(?:(?P<anthropic_key>-ant-[A-Za-z0-9_\-]{20,})|(?P<openai_key>-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,})"
     r"|(?P<stripe_key>_(?:live|test)_[A-Za-z0-9]{16,}))", ("anthropic_key", "openai_key", "stripe_key"), None),
    (r"g(?:(?P<github_token>h[pousr]_[A-Za-z0-9]{30,}|ithub_pat_[A-Za-z0-9_]{22,})|(?P<gitlab_token>lpat-[A-Za-z0-9_\-]{20,}))",
     ("github_token", "gitlab_token"), None),
    (r"A(?:(?P<google_key>Iza[0-9A-Za-z_\-]{35})|(?P<aws_access_key>(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16}(?![A-Za-z0-9])))",
     ("google_key", "aws_access_key"), None),
    (r"xox[abposr]-[A-Za-z0-9\-]{10,}", None, "slack_token"),
    (r"hf_[A-Za-z0-9]{30,}", None, "huggingface_token"),
    (r"rk_(?:live|test)_[A-Za-z0-9]{16,}", None, "stripe_key"),
    # the lookbehind right after the literal: an "eyJ" inside a run of token characters is not a
    # start, so a run is scanned once (tried at every "eyJ" of it, "eyJ" * 40000 took 14 s)
    (r"eyJ(?<![A-Za-z0-9_\-]eyJ)[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", None, "jwt"),
)
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

# Secrets known by what stands before them: the regex runs only on text holding a marker.
_KEYED = (
    # a key block: BEGIN line kept, then the body (armor headers and base64 lines) redacted
    ("private_key", r"(?P<head>-----BEGIN (?:(?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY(?: BLOCK)?|OpenVPN Static key V1)-----"
                    + _SEP + r")" + _KEY_BODY, ("PRIVATE KEY", "OpenVPN Static key")),
    # "Authorization: Bearer <token>", "Basic <b64>", "Authorization: token <token>"
    ("bearer", r"(?P<head>(?:[Bb]earer|Basic|[Aa]uthorization:\s*token)\s+)[A-Za-z0-9._~+/=\-]{16,}",
     ("earer", "Basic", "uthorization")),
    # scheme://user:password@host, searched from "://" (the scheme needs no matching: scanned from
    # every word start it made "a." * 40000 + "://" take 9.8 s)
    ("url_password", r"(?P<head>://[^\s:/@\"'\\]+:)[^\s@/\"'\\]+(?=@)", ("://",)),
    # export NAME=value, or NAME=value in a command, for names that say they hold a secret
    ("assignment", r"(?P<head>(?:\bexport\s+)?\b[A-Za-z0-9_]*?" + _ENV_SECRET + r"\s*=\s*)"
                   r"(?:\"(?!\$)(?:[^\"\\\n]|\\.){4,}\"|'(?!\$)[^'\n]{4,}'|(?!\$)" + _V + r"{4,})",
     ("KEY", "SECRET", "TOKEN", "PASSW", "_PASS", "_PWD", "CREDENTIAL")),
    # "password": "hunter22", api_key: 'abc...' in configuration text
    # (quotes maybe escaped: JSON inside a string, \"password\": \"...\", or inside that, \\\"...)
    ("config_value", r"(?P<head>[\"']?\b(?i:api[_-]?key|secret(?:[_-]?key)?|client[_-]?secret|password|passwd|"
                     r"access[_-]?token|auth[_-]?token|refresh[_-]?token)(?:\\{0,3}[\"'])?\s*[:=]\s*\\{0,3}[\"'])(?!\$)"
                     + _V + r"{4,}", ("assw", "ASSW", "ecret", "ECRET", "pi_key", "piKey", "PI_KEY", "pikey",
                                      "ccess_token", "uth_token", "efresh_token", "ccessToken", "uthToken")),
)
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
        if ("_" in value and not value.isupper()) or (_secret_key(value) and not value.islower()):
            return True  # token=access_token, password=dbPassword, password=db_pass_var: a variable
        if sep == ":" and value[0].isupper() and not value.isupper():
            return True  # token: CancellationToken, api_key: SecretStr: a type
    return False


_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _token_rule(pattern, groups, kind):
    regex = re.compile(pattern)

    def replace(match: re.Match) -> str:
        start = match.start()
        if start and match.string[start - 1] in _WORD:
            return match.group(0)  # inside a longer word: not this secret
        if "xxxx" in match.group(0).lower() or len(set(match.group(0))) <= 6:
            return match.group(0)  # sk_test_xxxxxxxxxxxxxxxx: a placeholder in the provider's format
        return f"[REDACTED:{kind or match.lastgroup}]"

    return regex, replace


def _keyed_rule(kind, pattern, markers):
    regex = re.compile(pattern)

    def replace(match: re.Match) -> str:
        head = match.group("head")
        value = match.group(0)[len(head):]
        if kind != "private_key":
            quoted = value[:1] in "\"'" or kind == "config_value"  # config_value: the quote is in the head
            if not value.startswith("[REDACTED:") and _not_secret(value.strip("\"'"), quoted=quoted):
                return match.group(0)  # a placeholder, a template, a path, code, a sentence
        return f"{head}[REDACTED:{kind}]"

    # assignments and configuration values need a "=" or ":" before the value: test that first
    return regex, replace, markers, kind in ("assignment", "config_value")


_TOKEN_RULES = tuple(_token_rule(*r) for r in _TOKENS)
_KEYED_RULES = tuple(_keyed_rule(*r) for r in _KEYED)


def redact_text(text: str) -> str:
    """``text`` with every secret replaced by ``[REDACTED:<kind>]``."""
    if not isinstance(text, str) or len(text) < 8:
        return text
    for regex, replace in _TOKEN_RULES:
        if regex.search(text):
            text = regex.sub(replace, text)
    has_assignment_sign = "=" in text or ":" in text
    for regex, replace, markers, gated in _KEYED_RULES:
        if gated and not has_assignment_sign:
            continue
        for marker in markers:
            if marker in text:
                text = regex.sub(replace, text)
                break
    return text


def has_secret(text: str) -> bool:
    return isinstance(text, str) and redact_text(text) != text


# A JSON key that says its value is a secret (the names the text rules know): "password",
# "POSTGRES_PASSWORD", "SecretAccessKey", "SessionToken", "X-Api-Key", "client_secret".
_SECRET_KEY = re.compile(r"(?i)(?:api[_-]?key|secret(?:[_-]?(?:access[_-]?)?key)?|client[_-]?secret|password|passwd|"
                         r"passphrase|(?:access|auth|refresh|session|id)[_-]?token|private[_-]?key|credentials?|"
                         r"(?:^|[_-])(?:token|pass|pwd))$")


def _secret_key(key) -> bool:
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def _member(secret: bool, value: str) -> str:
    """A string in a JSON document, redacted: by the text rules, or whole if its key says it is a secret."""
    out = redact_text(value)
    if out == value and secret and not _not_secret(value, quoted=True):
        return "[REDACTED:config_value]"
    return out


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
            # {"name": "DB_PASSWORD", "value": "x"} (Kubernetes, ECS, SSM): the value is the secret
            pair = any(_secret_key(node.get(k)) for k in ("name", "Name", "key", "Key"))
            items = [(k, v, _secret_key(k) or (pair and k in ("value", "Value"))) for k, v in node.items()]
        else:
            items = [(i, v, False) for i, v in enumerate(node)]
        for k, v, secret in items:
            if isinstance(v, str):
                new = _member(secret, v)
                if new != v:
                    node[k] = new
                    changed = True
            elif isinstance(v, (dict, list)):
                if copy:
                    v = node[k] = dict(v) if isinstance(v, dict) else list(v)
                stack.append(v)
    return top, changed


def redact_value(value):
    """A decoded JSON value (dict, list, str, number, None) with every string in it redacted, and the
    value under a secret-sounding key too; dict keys stay as they are. Returns a new value."""
    return _redact_tree(value, copy=True)[0]


def redact_json_text(text: str) -> str:
    """A JSON document with every string in it redacted (or, if it is not JSON, the text redacted).
    Always decoded, never judged by its raw text, where a secret may sit behind escapes
    (``\\"password\\": ...``, ``\\u0070assword``)."""
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
