"""Which commands does a shell script invoke? A small bash lexer, for the command policy
(``policy.py``).

Whole command names are checked, so ``rm`` is caught as ``/bin/rm``, ``rm -r -f``, ``$(rm x)``,
in backticks, ``sudo rm``, ``xargs -n1 rm``, ``find -exec rm``, ``bash -c "rm x"`` or in a script
the job sources, while ``echo successfully`` never matches ``su``. Anything whose command cannot be
known before it runs (``$cmd``, ``eval "$x"``, ``r{m,}``, ``curl ... | bash``, a script written at
run time) is reported as unchecked whenever a policy is set.

This is a policy check on what the script says, not containment: ``python -c`` can still delete
files. Containment is the sandbox's job (see ``bubblewrap.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Callable, Optional

ScriptReader = Callable[[str], Optional[str]]

RESERVED = {"if", "then", "elif", "else", "fi", "do", "done", "while", "until", "{", "}", "!", "coproc"}
CASE_ENDS = {";;", ";&", ";;&"}
OPERATORS = (";;&", ";;", ";&", "&&", "||", "|&", ";", "&", "|", "(", ")")
METACHARS = set(" \t\r\n;&|()<>")
REDIRECT = re.compile(r"(?:\d+|\{[A-Za-z_]\w*\})?(?:<<<|<<-|<<|<>|<&|>&|>>|>\||&>>|&>|<(?!\()|>(?!\())")
ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*(?:\[[^\]]*\])?\+?=")
SHELLS = {"bash", "sh", "dash", "zsh", "ksh", "mksh", "ash", "rbash"}

# Builtins and keywords that start no other program by themselves, allowed under an allowlist.
# (eval, source, trap, alias, exec and command do run code; that code is checked on its own.)
HARMLESS_BUILTINS = {
    ":",
    "true",
    "false",
    "echo",
    "printf",
    "cd",
    "pwd",
    "set",
    "unset",
    "export",
    "test",
    "[",
    "read",
    "exit",
    "return",
    "local",
    "shift",
    "declare",
    "typeset",
    "readonly",
    "wait",
    "let",
    "shopt",
    "umask",
    "getopts",
    "break",
    "continue",
    "exec",
    "command",
    "builtin",
    "time",
    "source",
    ".",
    "eval",
    "trap",
    "alias",
    "unalias",
    "type",
    "hash",
    "pushd",
    "popd",
    "dirs",
    "mapfile",
    "readarray",
    "ulimit",
    "times",
    "caller",
}


@dataclass(frozen=True)
class WrapperSpec:
    """How a program that runs another program takes its options: the short and long options
    that consume a value, and how many positional words come before the wrapped command."""

    short_with_value: str = ""
    long_with_value: frozenset[str] = frozenset()
    positionals: int = 0
    assignments: bool = False  # ``env A=1 cmd``, ``sudo A=1 cmd``
    options_after_positionals: bool = False  # ``flock FILE -c CMD``


def _spec(
    short: str = "",
    long: str = "",
    positionals: int = 0,
    assignments: bool = False,
    options_after_positionals: bool = False,
) -> WrapperSpec:
    return WrapperSpec(short, frozenset(long.split()), positionals, assignments, options_after_positionals)


WRAPPERS: dict[str, WrapperSpec] = {
    "sudo": _spec(
        "CDghpRrTtUu",
        "chdir close-from group host prompt chroot role type command-timeout other-user user",
        assignments=True,
    ),
    "doas": _spec("Cu"),
    "env": _spec("CSu", "chdir split-string unset", assignments=True),
    "nohup": _spec(),
    "exec": _spec("a"),
    "command": _spec(),
    "builtin": _spec(),
    "time": _spec("fo", "format output"),
    "nice": _spec("n", "adjustment"),
    "ionice": _spec("cnp", "class classdata pid pgid uid"),
    "timeout": _spec("ks", "kill-after signal", positionals=1),
    "stdbuf": _spec("eio", "error input output"),
    "setsid": _spec(),
    "chroot": _spec("", "userspec groups", positionals=1),
    "unbuffer": _spec(),
    "strace": _spec("abeEIoOpPsSuUX", "output"),
    "ltrace": _spec("aeEnopsSuxXlL", "output"),
    "xargs": _spec(
        "adEILnPs", "arg-file delimiter eof replace max-lines max-args max-procs max-chars process-slot-var"
    ),
    "taskset": _spec("", "", positionals=1),
    "chrt": _spec("", "", positionals=1),
    "runuser": _spec("cgGuw", "command group supp-group user whitelist-environment"),
    "flock": _spec("cEw", "command conflict-exit-code timeout", positionals=1, options_after_positionals=True),
    "busybox": _spec(),
    "parallel": _spec("jS", "jobs sshlogin"),
    "watch": _spec("dn", "differences interval"),
}
# Programs that run a *string* as a shell command line: ``su -c 'rm x'``, ``env -S 'rm x'``.
# For the wrappers among them the option counts only before the wrapped command.
STRING_OPTION = {"su": "c", "runuser": "c", "script": "c", "flock": "c", "env": "S"}
# Programs that join their arguments into one shell command line: ``watch 'rm x'``.
JOINS_ARGS = {"watch", "parallel"}


@dataclass(frozen=True)
class Invocation:
    """One command a script runs: its name (None when it cannot be known before the script
    runs, with ``unchecked`` saying why), where it is, and the text as written."""

    name: Optional[str]
    line: int
    text: str
    script: str = "run.sh"
    unchecked: Optional[str] = None
    function: bool = False  # a call of a function the script itself defines


@dataclass
class _Word:
    text: str
    line: int
    dynamic: bool = False  # holds an expansion: $x, $(...), `...`, ${...}, $((...))
    glob: bool = False  # holds an unquoted pattern or brace expansion: r?, r{m,}
    raw: str = ""  # the source text, for messages

    @property
    def fixed(self) -> bool:
        return not (self.dynamic or self.glob)


@dataclass
class _Op:
    op: str
    line: int


@dataclass
class _Redirect:
    op: str
    line: int


@dataclass
class _Lexer:
    """Splits bash source into words, operators and redirections. Command substitutions,
    process substitutions and the bodies of unquoted here-documents are collected in
    ``nested`` (with their line) to be parsed as scripts of their own."""

    s: str
    line: int
    i: int = 0
    nested: list[tuple[str, int]] = field(default_factory=list)
    heredocs: list[tuple[str, bool, bool]] = field(default_factory=list)  # delimiter, expands, strip tabs

    def tokens(self) -> list[object]:
        out: list[object] = []
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if s.startswith("\\\n", self.i):
                self.i += 2
                self.line += 1
            elif c in " \t\r":
                self.i += 1
            elif c == "#":
                while self.i < len(s) and s[self.i] != "\n":
                    self.i += 1
            elif c == "\n":
                out.append(_Op("\n", self.line))
                self.i += 1
                self.line += 1
                self._heredoc_bodies()
            elif s.startswith("((", self.i):
                self._arithmetic(self.i + 2)
            elif (m := REDIRECT.match(s, self.i)) is not None:
                op = m.group(0)
                out.append(_Redirect(op, self.line))
                self.i = m.end()
                if _is_heredoc(op):
                    self._heredoc_delimiter(strip_tabs=op.endswith("-"))
            elif (op := next((o for o in OPERATORS if s.startswith(o, self.i)), None)) is not None:
                out.append(_Op(op, self.line))
                self.i += len(op)
            else:
                out.append(self._word())
        return out

    # -- words -------------------------------------------------------------------------
    def _word(self) -> _Word:
        s = self.s
        start = self.i
        word = _Word("", self.line)
        text: list[str] = []
        while self.i < len(s):
            c = s[self.i]
            if c in "<>" and s.startswith("(", self.i + 1):
                self._balanced(self.i + 2, record=True)  # <(cmd) and >(cmd)
                word.dynamic = True
            elif c in METACHARS:
                break
            elif c == "\\":
                if s.startswith("\n", self.i + 1):
                    self.line += 1
                else:
                    text.append(s[self.i + 1 : self.i + 2])
                self.i += 2
            elif c == "'":
                end = s.find("'", self.i + 1)
                end = len(s) if end < 0 else end
                chunk = s[self.i + 1 : end]
                self.line += chunk.count("\n")
                text.append(chunk)
                self.i = end + 1
            elif s.startswith("$'", self.i):
                end = self.i + 2
                while end < len(s) and s[end] != "'":
                    end += 2 if s[end] == "\\" else 1
                chunk = s[self.i + 2 : end]
                self.line += chunk.count("\n")
                text.append(_ansi_c(chunk))
                self.i = end + 1
            elif c == '"' or s.startswith('$"', self.i):
                self.i += 2 if c == "$" else 1
                word.dynamic |= self._double_quoted(text)
            elif c == "$" or c == "`":
                if self._expansion():
                    word.dynamic = True
                else:
                    text.append("$")
            elif c == "=" and s.startswith("(", self.i + 1) and ASSIGNMENT.match("".join(text) + "="):
                text.append("=")
                self._balanced(self.i + 2, record=False)  # an array assignment: a=(x y)
            else:
                if c in "*?" or (c == "[" and _bracket_glob(s, self.i)) or (c == "{" and _brace_expansion(s, self.i)):
                    word.glob = True
                text.append(c)
                self.i += 1
        word.text = "".join(text)
        word.raw = s[start : self.i]
        return word

    def _double_quoted(self, text: list[str]) -> bool:
        """Consume up to the closing quote; True if it held an expansion."""
        s = self.s
        dynamic = False
        while self.i < len(s) and s[self.i] != '"':
            c = s[self.i]
            if c == "\\" and self.i + 1 < len(s):
                nxt = s[self.i + 1]
                if nxt == "\n":
                    self.line += 1
                else:
                    text.append(nxt if nxt in '$`"\\' else c + nxt)
                self.i += 2
            elif c in "$`":
                if self._expansion():
                    dynamic = True
                else:
                    text.append("$")
            else:
                if c == "\n":
                    self.line += 1
                text.append(c)
                self.i += 1
        self.i += 1
        return dynamic

    def _expansion(self) -> bool:
        """At ``$`` or a backtick: skip one expansion, remembering any command inside it.
        Returns False for a lone ``$`` that expands to nothing special."""
        s = self.s
        if s[self.i] == "`":
            end = self.i + 1
            while end < len(s) and s[end] != "`":
                end += 2 if s[end] == "\\" else 1
            body = re.sub(r"\\([`$\\])", r"\1", s[self.i + 1 : end])
            self.nested.append((body, self.line))
            self.line += s.count("\n", self.i, end)
            self.i = end + 1
        elif s.startswith("$((", self.i):
            self._arithmetic(self.i + 3)
        elif s.startswith("$(", self.i):
            self._balanced(self.i + 2, record=True)
        elif s.startswith("${", self.i):
            end = _matching(s, self.i + 2, "{", "}")
            self._scan_expansions(s[self.i + 2 : end], self.line)
            self.line += s.count("\n", self.i, end)
            self.i = end + 1
        elif self.i + 1 < len(s) and (s[self.i + 1].isalpha() or s[self.i + 1] == "_"):
            self.i += 2
            while self.i < len(s) and (s[self.i].isalnum() or s[self.i] == "_"):
                self.i += 1
        elif self.i + 1 < len(s) and (s[self.i + 1].isdigit() or s[self.i + 1] in "@*#?$!-"):
            self.i += 2
        else:
            self.i += 1
            return False
        return True

    def _balanced(self, start: int, record: bool) -> None:
        """Skip a body that runs to the matching ``)``; parse it later if ``record``."""
        end = _matching(self.s, start, "(", ")")
        body = self.s[start:end]
        if record:
            self.nested.append((body, self.line))
        else:
            self._scan_expansions(body, self.line)
        self.line += body.count("\n")
        self.i = end + 1

    def _arithmetic(self, start: int) -> None:
        """``((...))`` and ``$((...))`` hold no commands, except inside their own expansions."""
        end = _matching(self.s, start, "(", ")", depth=2)
        body = self.s[start : end - 1]
        self._scan_expansions(body, self.line)
        self.line += body.count("\n")
        self.i = end + 1

    def _scan_expansions(self, text: str, line: int) -> None:
        """Collect command substitutions inside text that is expanded like a double-quoted string."""
        inner = _Lexer(text, line)
        while inner.i < len(text):
            c = text[inner.i]
            if c == "\\":
                inner.i += 2
            elif c in "$`":
                inner._expansion()
            else:
                if c == "\n":
                    inner.line += 1
                inner.i += 1
        self.nested.extend(inner.nested)

    # -- here-documents ---------------------------------------------------------------
    def _heredoc_delimiter(self, strip_tabs: bool) -> None:
        s = self.s
        while self.i < len(s) and s[self.i] in " \t":
            self.i += 1
        start = self.i
        word = self._word()
        raw = s[start : self.i]
        self.heredocs.append((word.text, not any(q in raw for q in "'\"\\"), strip_tabs))

    def _heredoc_bodies(self) -> None:
        """Consume the bodies of the here-documents opened on the line that just ended."""
        s = self.s
        pending, self.heredocs = self.heredocs, []
        for delimiter, expands, strip_tabs in pending:
            start_line = self.line
            body: list[str] = []
            while self.i < len(s):
                end = s.find("\n", self.i)
                end = len(s) if end < 0 else end
                text = s[self.i : end]
                self.i = min(end + 1, len(s))
                self.line += 1
                if (text.lstrip("\t") if strip_tabs else text) == delimiter:
                    break
                body.append(text)
            if expands:
                self._scan_expansions("\n".join(body), start_line)


def _matching(s: str, start: int, open_: str, close: str, depth: int = 1) -> int:
    """Index of the bracket that closes ``depth`` brackets opened before ``start``
    (quotes respected), or the end of the text."""
    j = start
    quote: Optional[str] = None
    while j < len(s):
        ch = s[j]
        if ch == "\\" and quote != "'":
            j += 2
            continue
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == open_:
            depth += 1
        elif ch == close:
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return len(s)


def _is_heredoc(op: str) -> bool:
    return re.sub(r"^(?:\d+|\{\w+\})", "", op) in ("<<", "<<-")


def _bracket_glob(s: str, i: int) -> bool:
    """Is the ``[`` at ``i`` the start of a pattern like ``[a-z]`` (not the ``[`` command)?"""
    j = i + 1
    while j < len(s) and s[j] not in METACHARS:
        if s[j] == "]":
            return True
        j += 1
    return False


def _brace_expansion(s: str, i: int) -> bool:
    """Is the ``{`` at ``i`` a brace expansion like ``{a,b}`` or ``{1..3}``?"""
    end = s.find("}", i)
    if end < 0:
        return False
    inner = s[i + 1 : end]
    return not any(ch in METACHARS for ch in inner) and ("," in inner or ".." in inner)


_ANSI = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}


def _ansi_c(body: str) -> str:
    """Decode a ``$'...'`` string the way bash does, so ``$'\\x72m'`` is seen as ``rm``."""
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\" or i + 1 >= len(body):
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ANSI:
            out.append(_ANSI[nxt])
            i += 2
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            m = re.match(r"[0-9A-Fa-f]{1,%d}" % width, body[i + 2 :])
            out.append(chr(int(m.group(0), 16)) if m else "\\" + nxt)
            i += 2 + (len(m.group(0)) if m else 0)
        elif nxt in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1 :])
            assert m is not None
            out.append(chr(int(m.group(0), 8)))
            i += 1 + len(m.group(0))
        elif nxt == "c" and i + 2 < len(body):
            out.append(chr(ord(body[i + 2]) & 0x1F))
            i += 3
        else:
            out.append("\\" + nxt)
            i += 2
    return "".join(out)


class _Parser:
    """Walks the tokens of one script, following nested command lines and sourced scripts."""

    def __init__(self, read_script: Optional[ScriptReader]) -> None:
        self.read_script = read_script
        self.found: list[Invocation] = []
        self.functions: set[str] = set()
        self.visited: set[str] = set()

    # -- scripts and command lines ----------------------------------------------------
    def script(self, path: str) -> None:
        if path in self.visited:
            return
        self.visited.add(path)
        text = self.read_script(path) if self.read_script else None
        if text is not None:
            self.source(text, 1, path)

    def source(self, text: str, first_line: int, script: str) -> None:
        lexer = _Lexer(text, first_line)
        tokens = lexer.tokens()
        self._walk(tokens, script)
        for body, line in lexer.nested:
            self.source(body, line, script)

    def _walk(self, tokens: list[object], script: str) -> None:
        words: list[_Word] = []
        mode = "command"  # or: case-head, case-pattern, condition, loop-head, function-name
        case_depth = 0
        skip_target = False
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            i += 1
            if mode == "case-head":
                if isinstance(tok, _Word) and tok.fixed and tok.text == "in":
                    mode = "case-pattern"
                continue
            if mode == "case-pattern":
                if isinstance(tok, _Word) and tok.fixed and tok.text == "esac":
                    case_depth -= 1
                    mode = "command"
                elif isinstance(tok, _Op) and tok.op == ")":
                    mode = "command"
                continue
            if mode == "condition":
                if isinstance(tok, _Word) and tok.fixed and tok.text == "]]":
                    mode = "command"
                continue
            if mode == "loop-head":
                if isinstance(tok, _Op) and tok.op in (";", "\n"):
                    mode = "command"
                continue
            if isinstance(tok, _Redirect):
                skip_target = not _is_heredoc(tok.op)  # a here-doc's delimiter is already consumed
                continue
            if isinstance(tok, _Word):
                if skip_target:
                    skip_target = False
                    continue
                if mode == "function-name":
                    self.functions.add(tok.text)
                    mode = "command"
                    if _ops_at(tokens, i, "(", ")"):
                        i += 2
                    continue
                if not words and tok.fixed:
                    if tok.text in RESERVED:
                        continue
                    if tok.text == "case":
                        case_depth += 1
                        mode = "case-head"
                        continue
                    if tok.text in ("for", "select"):
                        mode = "loop-head"
                        continue
                    if tok.text == "[[":
                        mode = "condition"
                        continue
                    if tok.text == "function":
                        mode = "function-name"
                        continue
                    if tok.text == "esac" and case_depth:
                        case_depth -= 1
                        continue
                words.append(tok)
                continue
            assert isinstance(tok, _Op)
            if tok.op == "(" and len(words) == 1 and words[0].fixed and _ops_at(tokens, i, ")"):
                self.functions.add(words[0].text)  # name() { ...; }
                words = []
                i += 1
                continue
            self._command(words, script)
            words = []
            if tok.op in CASE_ENDS and case_depth:
                mode = "case-pattern"
        self._command(words, script)

    # -- one simple command -----------------------------------------------------------
    def _command(self, words: list[_Word], script: str) -> None:
        i = 0
        while i < len(words) and ASSIGNMENT.match(words[i].text):
            i += 1
        if i < len(words):
            self._invoke(words[i:], script)

    def _unchecked(self, word: _Word, script: str, why: str, text: Optional[str] = None) -> None:
        self.found.append(Invocation(None, word.line, text or word.raw or word.text, script, why))

    def _invoke(self, words: list[_Word], script: str) -> None:
        head, args = words[0], words[1:]
        if not head.fixed:
            self._unchecked(head, script, "is computed at run time and cannot be checked")
            return
        name = head.text.rsplit("/", 1)[-1]
        self.found.append(Invocation(name, head.line, head.text, script))
        if name in SHELLS:
            self._shell(name, head, args, script)
        elif name in ("source", "."):
            if args:
                self._script_file(name, args[0], script)
        elif name == "eval":
            self._command_line(head, args, script)
        elif name == "alias":
            for arg in args:
                if "=" in arg.text:
                    value = _Word(arg.text.split("=", 1)[1], arg.line, arg.dynamic)
                    self._command_line(arg, [value], script)
        elif name == "trap":
            self._trap(args, script)
        elif name == "find":
            self._find(args, script)
        elif name == "command" and any(a.text[:1] == "-" and set(a.text[1:]) & {"v", "V"} for a in args[:2]):
            return  # ``command -v x`` only looks x up
        elif name in JOINS_ARGS:
            rest = _skip_options(args, WRAPPERS.get(name, WrapperSpec()))
            if name == "parallel":
                rest = rest[: next((k for k, w in enumerate(rest) if w.text in (":::", "::::")), len(rest))]
            if rest:
                self._command_line(rest[0], rest, script)
        elif name in WRAPPERS:
            self._wrapper(name, args, script)
        elif name in STRING_OPTION:
            self._string_option(name, args, script)

    def _trap(self, args: list[_Word], script: str) -> None:
        if args and args[0].text == "--":
            args = args[1:]
        if not args or args[0].text in ("-", "") or args[0].text.isdigit():
            return
        if args[0].text.startswith("-"):
            return  # trap -l, trap -p
        self._command_line(args[0], [args[0]], script)

    def _string_option(self, name: str, args: list[_Word], script: str) -> bool:
        """``su bob -c 'cmd'``, ``env -S 'cmd'``: find the option among ``args`` and check its
        command line. True if there was one."""
        flag = STRING_OPTION[name]
        long_names = {"c": ("command",), "S": ("split-string",)}[flag]
        for k, arg in enumerate(args):
            text = arg.text
            if text == "--":
                return False
            key, has_value, value = text[2:].partition("=")
            if text.startswith("--") and key in long_names:
                parts = [_Word(value, arg.line, arg.dynamic)] if has_value else args[k + 1 : k + 2]
            elif text[:1] == "-" and not text.startswith("--") and flag in text[1:]:
                rest = text[text.index(flag, 1) + 1 :]
                parts = [_Word(rest, arg.line, arg.dynamic)] if rest else args[k + 1 : k + 2]
            else:
                continue
            self._command_line(arg, parts, script)
            return True
        return False

    def _command_line(self, at: _Word, parts: list[_Word], script: str) -> None:
        """A string that bash will parse and run (``eval``, ``bash -c``, ``trap``, ``alias``)."""
        if any(not p.fixed for p in parts):
            self._unchecked(
                at,
                script,
                "is a command line computed at run time and cannot be checked",
                " ".join(p.raw or p.text for p in parts),
            )
        else:
            self.source(" ".join(p.text for p in parts), at.line, script)

    def _script_file(self, runner: str, word: _Word, script: str) -> None:
        if not word.fixed:
            self._unchecked(word, script, f"is a script path computed at run time ({runner}) and cannot be checked")
            return
        path = PurePosixPath(word.text)
        parts = [p for p in path.parts if p != "."]
        inside = not path.is_absolute() and ".." not in parts and parts
        relative = "/".join(parts)
        if inside and self.read_script is not None and self.read_script(relative) is not None:
            self.script(relative)
        else:
            self._unchecked(
                word, script, f"is run by {runner} but is not part of the submitted code, so it cannot be checked"
            )

    def _shell(self, name: str, head: _Word, args: list[_Word], script: str) -> None:
        command_string = False
        i = 0
        while i < len(args):
            text = args[i].text
            if text in ("--rcfile", "--init-file", "-o", "+o", "-O", "+O"):
                i += 2
                continue
            if text == "--":
                i += 1
                break
            if text[:1] in "-+" and len(text) > 1:
                if not text.startswith("--") and "c" in text[1:]:
                    command_string = True
                i += 1
                continue
            break
        if i >= len(args):
            self._unchecked(head, script, "reads its commands from standard input, which cannot be checked", name)
        elif command_string:
            self._command_line(args[i], [args[i]], script)
        else:
            self._script_file(name, args[i], script)

    def _find(self, args: list[_Word], script: str) -> None:
        i = 0
        while i < len(args):
            if args[i].fixed and args[i].text in ("-exec", "-execdir", "-ok", "-okdir"):
                end = i + 1
                while end < len(args) and args[end].text not in (";", "+"):
                    end += 1
                if end > i + 1:
                    self._invoke(args[i + 1 : end], script)
                i = end
            i += 1

    def _wrapper(self, name: str, args: list[_Word], script: str) -> None:
        spec = WRAPPERS[name]
        rest = _skip_options(args, spec, numeric_flags=name == "nice")
        options = args[: len(args) - len(rest)]
        if spec.assignments:
            while rest and ASSIGNMENT.match(rest[0].text):
                rest = rest[1:]
        rest = rest[spec.positionals :]
        if spec.options_after_positionals:
            after = _skip_options(rest, spec)
            options += rest[: len(rest) - len(after)]
            rest = after
        if name in STRING_OPTION and self._string_option(name, options, script):
            return
        if rest:
            self._invoke(rest, script)


def _skip_options(args: list[_Word], spec: WrapperSpec, numeric_flags: bool = False) -> list[_Word]:
    """The words after a program's own options (``sudo -u bob rm x`` -> ``rm x``)."""
    i = 0
    while i < len(args):
        text = args[i].text
        if text == "--":
            return args[i + 1 :]
        if text.startswith("--") and len(text) > 2:
            key, has_value, _ = text[2:].partition("=")
            i += 2 if key in spec.long_with_value and not has_value else 1
        elif text.startswith("-") and len(text) > 1:
            consumed = 1
            if not (numeric_flags and text[1:].isdigit()):
                for k, flag in enumerate(text[1:], start=2):
                    if flag in spec.short_with_value:
                        consumed = 1 if text[k:] else 2
                        break
            i += consumed
        else:
            break
    return args[i:]


def _ops_at(tokens: list[object], i: int, *ops: str) -> bool:
    return all(
        i + k < len(tokens) and isinstance(tokens[i + k], _Op) and tokens[i + k].op == op  # type: ignore[attr-defined]
        for k, op in enumerate(ops)
    )


def invocations(script: str, read_script: Optional[ScriptReader] = None, name: str = "run.sh") -> list[Invocation]:
    """Every command the script would run, script by script in order of appearance, including
    nested command lines and the scripts from the same code folder that it runs (read through
    ``read_script``). Calls of functions the scripts define are marked as such."""
    parser = _Parser(read_script)
    parser.visited.add(name)
    parser.source(script, 1, name)
    order = {script_name: k for k, script_name in enumerate(dict.fromkeys(c.script for c in parser.found))}
    calls = [
        replace(c, function=True) if c.name is not None and c.name in parser.functions else c for c in parser.found
    ]
    return sorted(calls, key=lambda c: (order[c.script], c.line))
