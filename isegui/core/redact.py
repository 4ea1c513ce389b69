"""Connection passwords kept out of what isegui prints and logs (log files are sent to
support, messages are read over shoulders). No imports beyond the standard library: the log
handlers and every command use it, the line's included."""

from __future__ import annotations

import re

# a password in a URL's user part, or as a parameter (URL query or key=value connection
# string); both scan a hostile text in linear time
_USERINFO_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,20}://[^\s:@/]*):[^\s@/]*@")
_PARAMETER_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)")


def redact_passwords(text: str) -> str:
    """`text` (a message, a log line, a command line) with every connection password in it
    replaced by ***."""
    text = _USERINFO_PASSWORD.sub(r"\1:***@", text)
    return _PARAMETER_PASSWORD.sub(_hidden_parameter, text)


def _hidden_parameter(match: re.Match[str]) -> str:
    value = match.group(2)
    # punctuation after an unquoted value is the message's own ("...?password=x: refused")
    tail = "" if value.startswith("'") else value[len(value.rstrip(":;,)")):]
    return f"{match.group(1)}***{tail}"
