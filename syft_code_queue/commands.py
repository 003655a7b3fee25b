"""Which commands does a shell script invoke? A small bash lexer for the runner's policy.

Whole command names are checked (``rm`` blocks ``/bin/rm`` and ``rm -r -f`` but not
``echo successfully``). Commands whose name is only known at run time (``$cmd``, ``eval
"$x"``) cannot be checked and are reported as such when a policy is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

OPERATORS = ("&&", "||", ";;", "|&", ";", "&", "|", "(", ")", "\n")
REDIRECT_START = "<>"
RESERVED = {
    "if", "then", "elif", "else", "fi", "do", "done", "while", "until", "esac",
    "{", "}", "!", "[[", "]]", "function", "in",
}
LOOP_HEADERS = {"for", "select", "case"}  # their words up to the next separator are not commands
WRAPPERS = {
    "sudo", "env", "nohup", "exec", "command", "builtin", "xargs", "time", "nice",
    "timeout", "stdbuf", "setsid", "doas", "chroot", "unbuffer", "strace", "watch",
}
SHELLS = {"bash", "sh", "dash", "zsh", "ksh"}
# Builtins that cannot start another program, allowed even under an allowlist.
HARMLESS_BUILTINS = {
    ":", "true", "false", "echo", "printf", "cd", "pwd", "set", "unset", "export", "test",
    "[", "read", "exit", "return", "local", "shift", "declare", "readonly", "wait",
}


@dataclass(frozen=True)
class Invocation:
    """One command a script runs: its name (None when computed at run time) and line."""

    name: Optional[str]
    line: int
    text: str


@dataclass
class _Word:
    text: str
    dynamic: bool  # contains an unquoted or double-quoted expansion
    line: int


class _Lexer:
    def __init__(self, source: str, first_line: int) -> None:
        self.s = source
        self.i = 0
        self.line = first_line
        self.subscripts: list[tuple[str, int]] = []  # $(...) and `...` bodies, parsed later

    def tokens(self) -> list[object]:
        out: list[object] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "\\" and self.s[self.i + 1 : self.i + 2] == "\n":
                self.i += 2
                self.line += 1
            elif c in " \t\r":
                self.i += 1
            elif c == "#":
                while self.i < len(self.s) and self.s[self.i] != "\n":
                    self.i += 1
            elif self._operator(out):
                pass
            else:
                out.append(self._word())
        return out

    def _operator(self, out: list[object]) -> bool:
        for op in OPERATORS:
            if self.s.startswith(op, self.i):
                out.append((op, self.line))
                self.i += len(op)
                if op == "\n":
                    self.line += 1
                return True
        return False

    def _word(self) -> _Word:
        start_line = self.line
        text: list[str] = []
        dynamic = False
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r\n" or any(s.startswith(op, self.i) for op in OPERATORS):
                break
            if c == "\\":
                text.append(s[self.i + 1 : self.i + 2])
                self.i += 2
            elif c == "'":
                end = s.find("'", self.i + 1)
                end = len(s) if end < 0 else end
                chunk = s[self.i + 1 : end]
                self.line += chunk.count("\n")
                text.append(chunk)
                self.i = end + 1
            elif c == '"':
                self.i += 1
                while self.i < len(s) and s[self.i] != '"':
                    if s[self.i] == "\\":
                        text.append(s[self.i + 1 : self.i + 2])
                        self.i += 2
                    elif s.startswith("$(", self.i) or s[self.i] == "`":
                        dynamic = True
                        self._substitution()
                    else:
                        if s[self.i] == "$":
                            dynamic = True
                        if s[self.i] == "\n":
                            self.line += 1
                        text.append(s[self.i])
                        self.i += 1
                self.i += 1
            elif s.startswith("$(", self.i) or c == "`":
                dynamic = True
                self._substitution()
            else:
                if c == "$":
                    dynamic = True
                text.append(c)
                self.i += 1
        return _Word("".join(text), dynamic, start_line)

    def _substitution(self) -> None:
        """Skip over ``$(...)`` or a backtick body, remembering it for a recursive parse."""
        s = self.s
        line = self.line
        if s[self.i] == "`":
            end = s.find("`", self.i + 1)
            end = len(s) if end < 0 else end
            body = s[self.i + 1 : end]
            self.i = end + 1
        else:
            depth, j = 0, self.i + 1
            quote: Optional[str] = None
            while j < len(s):
                ch = s[j]
                if quote:
                    if ch == quote:
                        quote = None
                elif ch in "'\"":
                    quote = ch
                elif ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            body = s[self.i + 2 : j]
            self.i = j + 1
        self.line += body.count("\n")
        self.subscripts.append((body, line))


def invocations(script: str, first_line: int = 1) -> list[Invocation]:
    """Every command the script would run, in order, including nested ones."""
    lexer = _Lexer(script, first_line)
    tokens = lexer.tokens()
    found: list[Invocation] = []
    command: list[_Word] = []
    skipping = False
    for token in tokens + [(";", lexer.line)]:
        if isinstance(token, _Word):
            if not command and not skipping and token.text in LOOP_HEADERS and not token.dynamic:
                skipping = True
                continue
            if not skipping:
                command.append(token)
            continue
        op, _line = token  # type: ignore[misc]
        if op in (";", "\n", "&&", "||", "|", "|&", "&", "(", ")", ";;"):
            if command:
                found.extend(_simple_command(command))
            command = []
            skipping = False
    for body, line in lexer.subscripts:
        found.extend(invocations(body, line))
    return sorted(found, key=lambda inv: inv.line)


def _simple_command(words: list[_Word]) -> list[Invocation]:
    out: list[Invocation] = []
    i = 0
    while i < len(words):
        word = words[i]
        text = word.text
        if not word.dynamic and text in RESERVED:
            i += 1
            continue
        if "=" in text and not text.startswith("=") and text.split("=", 1)[0].isidentifier():
            i += 1  # a variable assignment before the command
            continue
        if text[:1] in REDIRECT_START or text[:2] in ("2>", "1>", "&>"):
            i += 1 if any(ch not in "<>&0123456789" for ch in text) else 2
            continue
        if word.dynamic:
            out.append(Invocation(None, word.line, word.text or "$..."))
            return out
        name = text.rsplit("/", 1)[-1]
        out.append(Invocation(name, word.line, text))
        args = words[i + 1 :]
        if name in SHELLS:
            for j, arg in enumerate(args[:-1]):
                if arg.text == "-c":
                    payload = args[j + 1]
                    if payload.dynamic:
                        out.append(Invocation(None, payload.line, payload.text))
                    else:
                        out.extend(invocations(payload.text, payload.line))
                    break
        elif name == "eval":
            if any(a.dynamic for a in args):
                out.append(Invocation(None, word.line, " ".join(a.text for a in args)))
            else:
                out.extend(invocations(" ".join(a.text for a in args), word.line))
        elif name in WRAPPERS:
            i += 1
            while i < len(words) and (words[i].text.startswith("-") or (name == "timeout" and words[i].text[:1].isdigit())):
                i += 1
            continue
        return out
    return out


def policy_violations(
    script: str, blocked: Iterable[str], allowed: Optional[Iterable[str]]
) -> list[str]:
    """Human-readable reasons the script breaks the command policy (empty if it doesn't)."""
    blocked_set = {b.rsplit("/", 1)[-1] for b in blocked}
    allowed_set = None if allowed is None else {a.rsplit("/", 1)[-1] for a in allowed}
    if not blocked_set and allowed_set is None:
        return []
    problems: list[str] = []
    for inv in invocations(script):
        if inv.name is None:
            problems.append(
                f"line {inv.line}: the command {inv.text!r} is computed at run time and cannot be checked"
            )
        elif inv.name in blocked_set:
            problems.append(f"line {inv.line}: {inv.name!r} is a blocked command")
        elif allowed_set is not None and inv.name not in allowed_set and inv.name not in HARMLESS_BUILTINS:
            problems.append(f"line {inv.line}: {inv.name!r} is not in the allowed commands")
    return problems
