"""The workshop guide's four exercises, done in this repository's own lib.rs.

    python3 scripts/dev.py start N      # lib.rs at the guide's starting point of exercise N
    python3 scripts/dev.py check N      # build, then say what works and what does not yet
    python3 scripts/dev.py solution N   # put the repository's solution back

Each exercise's code sits in lib.rs between two marker lines, `// ----- Exercise N begin: name
-----` and `// ----- Exercise N end: name -----`; `start` swaps what is between them for the
guide's starter code and takes the matching registration line out of the module function
(`fn rust_demo`), and `solution` puts back this repository's solution. The solutions are kept,
untouched by the exercises, in scripts/solutions.rs (the marked code and the module function,
as lib.rs has them; `python3 scripts/exercises.py freeze` writes it after a change to lib.rs,
and the test suite checks that the two agree), so `solution` works whatever the attendee has
edited, committed or pulled. Code of yours that `start` or `solution` replaces is saved in
.exercises/ first.

This file needs nothing but the standard library. `verify` (what `check` runs after the build)
imports rust_demo, so it runs in the Python that the module was built into.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "lib.rs"
SAVED = ROOT / ".exercises"
# This repository's solutions: what `solution N` puts back (see the docstring).
SOLUTIONS = ROOT / "scripts" / "solutions.rs"
# factorial(10) takes microseconds; the guide's command is stopped after a quarter of the
# time `check` allows in all (scripts/dev.py CHECK_SECONDS).
GUIDE_COMMAND_SECONDS = int(os.environ.get("RUST_DEMO_CHECK_SECONDS") or 120) // 4
MARKER = re.compile(r"^// -+ Exercise (\d+) (begin|end): (\w+) -+[ \t]*$", re.M)


@dataclass(frozen=True)
class Exercise:
    number: int
    title: str
    region: str  # the name on its marker lines
    registration: str | None  # the guide's line for the module function
    release: bool  # exercise 4 is a timing: build it optimised
    # What sits between the markers after `start`. It names no line number: the module
    # function's moves as soon as the attendee writes code above it (`start` prints it).
    starter: str


# The guide's code, with empty bodies made to compile: `todo!()` panics when it is reached,
# and `check` reports that as "not implemented yet".
EXERCISES = {
    1: Exercise(
        1,
        "Add a Factorial Function",
        "factorial",
        "m.add_function(wrap_pyfunction!(factorial, m)?)?;",
        False,
        """\
// Exercise 1 (workshop guide): implement factorial, add its registration line inside
// `fn rust_demo` (the #[pymodule] function at the end of lib.rs), then run:
// python3 scripts/dev.py check 1
#[pyfunction]
fn factorial(n: u64) -> u64 {
    // Your implementation here
    // Hint: (1..=n).product() works, or use a loop
    todo!("factorial({n})")
}
""",
    ),
    2: Exercise(
        2,
        "Add Error Handling",
        "factorial",
        "m.add_function(wrap_pyfunction!(factorial, m)?)?;",
        False,
        """\
// Exercise 2 (workshop guide): make factorial return PyResult<u64> and raise ValueError for
// inputs > 20, then run: python3 scripts/dev.py check 2
#[pyfunction]
fn factorial(n: u64) -> u64 {
    (1..=n).product()
}
""",
    ),
    3: Exercise(
        3,
        "Create a Counter Class",
        "Counter",
        "m.add_class::<Counter>()?;",
        False,
        """\
// Exercise 3 (workshop guide): fill in the Counter class, register it inside
// `fn rust_demo` (the #[pymodule] function at the end of lib.rs), then run:
// python3 scripts/dev.py check 3
#[pyclass]
struct Counter {
    count: i64,
}

#[pymethods]
impl Counter {
    #[new]
    fn new() -> Self {
        // Initialize to 0
        todo!("Counter()")
    }

    fn increment(&mut self) {
        // Add 1
        todo!("Counter.increment()")
    }

    fn decrement(&mut self) {
        // Subtract 1
        todo!("Counter.decrement()")
    }

    fn value(&self) -> i64 {
        // Return current count
        todo!("Counter.value() of {}", self.count)
    }

    fn reset(&mut self) {
        // Reset to 0
        todo!("Counter.reset()")
    }

    fn __repr__(&self) -> String {
        // Nice string representation
        todo!("Counter.__repr__()")
    }
}
""",
    ),
    4: Exercise(
        4,
        "Performance Experiment",
        "sieve_of_eratosthenes",
        "m.add_function(wrap_pyfunction!(sieve_of_eratosthenes, m)?)?;",
        True,
        """\
// Exercise 4 (workshop guide): write the guide's sieve_of_eratosthenes here, register it
// inside `fn rust_demo` (the #[pymodule] function at the end of lib.rs), then run:
// python3 scripts/dev.py check 4
""",
    ),
}


def exercise(number: int) -> Exercise:
    if number not in EXERCISES:
        raise SystemExit(f"There are exercises 1 to {len(EXERCISES)}, not {number}.")
    return EXERCISES[number]


# --- lib.rs surgery ------------------------------------------------------------------------


@dataclass
class Region:
    number: int  # the N on its marker lines
    start: int  # offset of the begin marker line
    body_start: int  # offset just after it
    body_end: int  # offset of the end marker line
    end: int  # offset just after the end marker line


def find_region(source: str, name: str) -> Region:
    begin = end = None
    for match in MARKER.finditer(source):
        if match.group(3) == name:
            if match.group(2) == "begin" and begin is None:
                begin = match
            elif match.group(2) == "end" and begin is not None:
                end = match
                break
    if begin is None or end is None:
        raise SystemExit(
            f"lib.rs has lost a marker line of {name!r}. The two lines around that code must "
            f"read, each on a line of its own:\n  // ----- Exercise N begin: {name} -----\n"
            f"  // ----- Exercise N end: {name} -----\n"
            "with N the exercise's number. Put the missing one back and run this again "
            "(`git diff lib.rs` shows what changed)."
        )
    return Region(int(begin.group(1)), begin.start(), begin.end() + 1, end.start(), end.end() + 1)


def registration_pattern(line: str) -> re.Pattern[str]:
    """`line` however it is spaced, split over lines (as rustfmt splits long ones) or
    commented, with or without a `pyo3::` path, as whole lines."""
    tokens = [re.escape(token) for token in re.findall(r"\w+|\S", line)]
    code = r"\s*".join(tokens).replace("wrap_pyfunction", r"(?:pyo3\s*::\s*)?wrap_pyfunction")
    code = code.replace(r"\?\s*\)", r"\?\s*,?\s*\)")  # rustfmt's trailing comma
    return re.compile(rf"^[ \t]*{code}[ \t]*(?://[^\n]*)?\n", re.M)


def without_registration(source: str, line: str) -> str:
    return registration_pattern(line).sub("", source)


# The module function's last line; with a `;` (rustc's advice for a line after it) it is still
# that line, and stray_registrations says what to do.
OK_LINE = re.compile(r"^[ \t]*Ok\(\(\)\)[ \t]*(;)?[ \t]*\n", re.M)


def module_function(source: str) -> tuple[int, int]:
    """Offsets of the `#[pymodule] fn` body: from after its `{` line to its `Ok(())` line."""
    head = re.search(r"^(?:pub\s+)?fn rust_demo\s*\(.*\{[ \t]*\n", source, re.M)
    tail = head and OK_LINE.search(source, head.end())
    if head is None or tail is None:
        raise SystemExit(
            "lib.rs: cannot find the module function. Its name must be the module's, rust_demo:\n"
            "  #[pymodule]\n  fn rust_demo(m: &Bound<'_, PyModule>) -> PyResult<()> {\n"
            "      ...\n      Ok(())\n  }\n"
            "Rename it back (or restore that line), then run this again."
        )
    return head.end(), tail.start()


def with_registration(source: str, solved: str, line: str) -> str:
    """`source` with `line` in the module function exactly once, where `solved` has it."""
    source = without_registration(source, line)
    start, end = module_function(source)
    solved_start, solved_end = module_function(solved)
    ours = registration_pattern(line).search(solved, solved_start, solved_end)
    # After the nearest line that comes before it in the solved module function and is here too.
    before = solved[solved_start : ours.start()].splitlines() if ours else []
    for previous in reversed([x for x in before if x.strip()]):
        anchor = registration_pattern(previous.strip()).search(source, start, end)
        if anchor:
            at = anchor.end()
            break
    else:
        at = end
    return source[:at] + "    " + line.strip() + "\n" + source[at:]


def module_line(source: str) -> int:
    """The line number of `fn rust_demo`, the #[pymodule] function."""
    start, _ = module_function(source)
    return source.count("\n", 0, start)


def stray_registrations(source: str, number: int) -> list[str]:
    """One sentence for each of exercise `number`'s registration lines outside `fn rust_demo`
    (pasted at the end of lib.rs, or into a test, a registration does nothing or breaks the
    build with a message about something else), and for an `Ok(())` that is not its last
    line."""
    line = exercise(number).registration
    try:
        start, end = module_function(source)
    except SystemExit:  # no module function: the build or the import says so
        return []
    ok = OK_LINE.match(source, end)
    assert ok, "module_function ends at its Ok(()) line"
    ok_line = source.count("\n", 0, end) + 1
    close = re.compile(r"^}", re.M).search(source, end)
    found = []
    for match in registration_pattern(line).finditer(source) if line else ():
        at = source.count("\n", 0, match.start()) + 1
        if close and end <= match.start() < close.start():
            found.append(
                f"lib.rs line {at} has `{line}` after the module function's `Ok(())` (line "
                f"{ok_line}): move it above that line. `Ok(())` is the function's value, so it "
                "comes last, with no `;` after it."
            )
        elif not start <= match.start() < end:
            found.append(
                f"lib.rs line {at} has `{line}` outside the module function: move it inside "
                f"`fn rust_demo` (line {module_line(source)}), above its `Ok(())`."
            )
    if ok[1] and not found:
        found.append(
            f"lib.rs line {ok_line}: `Ok(())` is the module function's value, so it comes last "
            "with no `;` after it: `Ok(())`."
        )
    return found


# Cargo's message for a beginner's usual mistakes, and one line that says what to change. Each
# pattern is matched against the whole build output; {0} is its first group.
HINTS = [
    (
        # Not `Result<(), ...>`: that one is the module function's (stray_registrations).
        r"a value of type `Result<[^`]*` cannot be made by \w+ all elements|"
        r"expected `Result<(?!\(\))[^`]*`, found `(?!Result|\(\))",
        "the function returns PyResult<...>, so its value goes inside Ok(...): "
        "`Ok((1..=n).product())`, as in the guide's exercise 2.",
    ),
    (
        r"expected `(\w+)`, found `Result<",
        "the body returns Ok(...) or Err(...), so the return type must say so: "
        "`-> PyResult<{0}>` instead of `-> {0}`.",
    ),
    (
        r"a value of type `(\w+)` cannot be made by \w+ all elements of type `",
        "the return type `{0}` is not what the body computes: give the function the type its "
        "last expression has (factorial: `-> u64`, or `-> PyResult<u64>` in exercise 2).",
    ),
    (
        r"cannot find [\w ]*`wrapped_pyfunction`",
        "a function given to wrap_pyfunction! needs `#[pyfunction]` on the line above its `fn`.",
    ),
    (
        r"found `&AddClassToModule<(\w+)>`",
        "{0} is a #[pyclass]: register it with `m.add_class::<{0}>()?;` "
        "(add_function and wrap_pyfunction! are for #[pyfunction]s).",
    ),
    (
        r"the trait bound `(\w+): PyClass` is not satisfied|"
        r"`(\w+)` cannot be used as the return value for `#\[new\]`",
        "put `#[pyclass]` on the line above `struct {0}` (and `#[pymethods]` above its impl).",
    ),
    (
        r"the name `([a-zA-Z]\w*)` is defined multiple times",
        "lib.rs defines {0} twice: keep the one between the Exercise markers and delete the other.",
    ),
    (
        r"expected `(?!Result)(\w+)`, found `\(\)`",
        "a function declared `-> {0}` has no value yet: its last line is the value it returns, "
        "written without `;` (factorial: `(1..=n).product()`; Counter's value: `self.count`).",
    ),
    (
        r"cannot find attribute `new` in this scope",
        "`#[new]` and a class's other methods go in an impl block marked `#[pymethods]`: put "
        "`#[pymethods]` on the line above `impl Counter`.",
    ),
    (
        r"expected one of `!` or `::`, found `\.`",
        "a statement sits outside any function: registration lines go inside `fn rust_demo`, "
        "above its `Ok(())`.",
    ),
]


# A name the build cannot find (the registration line's, or one the code uses).
NOT_FOUND = re.compile(r"(?:unresolved import|cannot find [\w ]*?) `(\w+)`")


def hints(output: str, source: str = "") -> list[str]:
    """The hints whose pattern occurs in a failed build's output, each once; with lib.rs's
    `source`, also a name that lib.rs spells with other capitals than where it is used."""
    found: list[str] = []
    for pattern, text in HINTS:
        match = re.search(pattern, output)
        if match:
            groups = [g for g in match.groups() if g] or [""]
            hint = text.format(*groups)
            if hint not in found:
                found.append(hint)
    defined = set(re.findall(r"^[ \t]*(?:pub\s+)?(?:fn|struct)\s+(\w+)", source, re.M))
    for used in dict.fromkeys(NOT_FOUND.findall(output)):
        for name in sorted(defined):
            if name != used and name.lower() == used.lower():
                guide = next(
                    (e.region for e in EXERCISES.values() if e.region.lower() == used.lower()),
                    used,
                )
                found.append(
                    f"lib.rs defines `{name}` and the code names `{used}`: Rust names are "
                    f"case-sensitive, so spell both as the guide does, `{guide}` (the name "
                    "Python sees)."
                )
    return found


def solved_source() -> str:
    """This repository's solutions: scripts/solutions.rs (the exercises never change it)."""
    try:
        return SOLUTIONS.read_text(encoding="utf-8").replace("\r\n", "\n")
    except OSError as err:
        raise SystemExit(
            f"{SOLUTIONS.relative_to(ROOT)} is missing ({err.strerror}), and with it this "
            "repository's solutions: `git checkout scripts/solutions.rs` brings it back."
        ) from None


def freeze() -> None:
    """Write scripts/solutions.rs from lib.rs: each exercise's marked code, then the module
    function. For maintainers, after changing a solution in lib.rs."""
    source, _ = read_lib()
    regions = sorted(
        (find_region(source, name) for name in {ex.region for ex in EXERCISES.values()}),
        key=lambda region: region.start,
    )
    starters = [r.number for r in regions if is_starter(source[r.body_start : r.body_end])]
    if starters:
        raise SystemExit(f"lib.rs has the starter of exercise {starters[0]}: solve it first.")
    head = re.search(r"^#\[pymodule\b", source, re.M)
    _, body_end = module_function(source)
    close = source.index("}\n", body_end) + 2
    if head is None:
        raise SystemExit("lib.rs: no #[pymodule] attribute above fn rust_demo")
    parts = [
        "// This repository's solutions of the workshop exercises, copied from lib.rs by\n"
        "// `python3 scripts/exercises.py freeze`: `python3 scripts/dev.py solution N` takes them\n"
        "// from here. Not compiled; tests/test_exercises.py checks that lib.rs agrees.\n",
        *(source[r.start : r.end] for r in regions),
        source[head.start() : close],
    ]
    write_file(SOLUTIONS, "\n".join(parts))
    print(f"wrote {SOLUTIONS.relative_to(ROOT)}")


def keep_a_copy(name: str, code: str) -> Path:
    SAVED.mkdir(exist_ok=True)
    path = SAVED / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.rs"
    write_file(path, code)
    return path


def replace_region(source: str, region: Region, number: int, body: str) -> str:
    name = MARKER.match(source, region.start)
    assert name, "find_region returned a region without markers"
    return (
        source[: region.start]
        + f"// ----- Exercise {number} begin: {name.group(3)} -----\n"
        + body
        + f"// ----- Exercise {number} end: {name.group(3)} -----\n"
        + source[region.end :]
    )


BOM = "\ufeff"  # some Windows editors start a UTF-8 file with one


def read_lib() -> tuple[str, str]:
    """lib.rs with "\n" line ends, and the file as it was (write_lib keeps its line ends)."""
    raw = LIB.read_bytes().decode("utf-8")
    return raw.removeprefix(BOM).replace("\r\n", "\n"), raw


def with_line_ends_of(original: str, source: str) -> str:
    """`source` ("\n" line ends) with the line ends and BOM of `original`, the file it was made
    from: a line that `original` has keeps its own end (one CRLF line in an LF file stays that
    one), a new line gets the end most of the file's lines have."""
    # Each line of `original` with its end; what follows the last "\n" is not a line.
    old = [line + "\n" for line in original.removeprefix(BOM).split("\n")[:-1]]
    crlf = sum(line.endswith("\r\n") for line in old)
    usual = "\r\n" if crlf > len(old) - crlf else "\n"
    old_bare = [line.removesuffix("\n").removesuffix("\r") for line in old]
    new = source.split("\n")
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old_bare, new[:-1], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += old[i1:i2]
        else:
            out += [line + usual for line in new[j1:j2]]
    return (BOM if original.startswith(BOM) else "") + "".join(out) + new[-1]


def write_file(path: Path, text: str) -> None:
    """Write `text` to `path` through a new file in the same folder, renamed over the old one:
    a full disk or a quota fails the write and leaves `path` as it was. Exits with one line
    saying why when the write fails."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise SystemExit(
            f"could not write {path.relative_to(ROOT)} ({err.strerror or err}): it is unchanged. "
            "A full disk or a file-size limit does this; free some space and run it again."
        ) from None


def write_lib(source: str, original: str) -> None:
    """lib.rs becomes `source`, with the line ends and BOM that `original` (read_lib) had."""
    write_file(LIB, with_line_ends_of(original, source))


def is_starter(body: str) -> bool:
    return any(body == e.starter for e in EXERCISES.values())


def start(number: int) -> None:
    ex = exercise(number)
    source, original = read_lib()
    region = find_region(source, ex.region)
    body = source[region.body_start : region.body_end]
    solved = solved_source()
    solved_region = find_region(solved, ex.region)
    solution = solved[solved_region.body_start : solved_region.body_end]
    if region.number == number and body != solution:
        print(
            f"Exercise {number} is already started: lib.rs is unchanged. (To start it over: "
            f"python3 scripts/dev.py solution {number}, then start {number}.)"
        )
    else:
        if body != solution and not is_starter(body):
            print(f"Your code for {ex.region} is saved in {keep_a_copy(ex.region, body)}")
        if ex.registration:
            if number == 2:  # it starts from a finished exercise 1, registered
                source = with_registration(source, solved, ex.registration)
            else:
                source = without_registration(source, ex.registration)
        region = find_region(source, ex.region)
        source = replace_region(source, region, number, ex.starter)
        write_lib(source, original)
        print(f"Exercise {number}: {ex.title}. lib.rs is at the guide's starting point:")
    first = source.count("\n", 0, find_region(source, ex.region).start) + 2
    print(f"  write the code between the 'Exercise {number} begin/end' lines of lib.rs", end="")
    print(f" (line {first})", end="")
    if number in (1, 3, 4):
        print(
            f",\n  add `{ex.registration}` inside `fn rust_demo`, the module function"
            f" (lib.rs line {module_line(source)}), above its `Ok(())`",
            end="",
        )
    print(f",\n  then run: python3 scripts/dev.py check {number}")
    print(f"  (python3 scripts/dev.py solution {number} puts this repository's solution back)")


def solution(number: int) -> None:
    ex = exercise(number)
    source, original = read_lib()
    region = find_region(source, ex.region)
    solved = solved_source()
    solved_region = find_region(solved, ex.region)
    body = source[region.body_start : region.body_end]
    if not is_starter(body) and body != solved[solved_region.body_start : solved_region.body_end]:
        print(f"Your code for {ex.region} is saved in {keep_a_copy(ex.region, body)}")
    source = (
        source[: region.start]
        + solved[solved_region.start : solved_region.end]
        + source[region.end :]
    )
    if ex.registration:
        source = with_registration(source, solved, ex.registration)
    write_lib(source, original)
    print(
        f"lib.rs has this repository's solution of exercise {number} ({ex.title}), "
        f"from {SOLUTIONS.relative_to(ROOT).as_posix()}."
    )
    # A copy the attendee wrote elsewhere would now clash with it.
    region = find_region(source, ex.region)
    outside = source[: region.start] + "\n" * source.count("\n", region.start, region.end)
    outside += source[region.end :]
    definition = re.compile(rf"^[ \t]*(?:pub\s+)?(?:fn|struct)\s+{ex.region}\b", re.M)
    for match in definition.finditer(outside):
        line = outside.count("\n", 0, match.start()) + 1
        print(
            f"But lib.rs also defines {ex.region} at line {line}, outside the Exercise "
            f"markers: delete that copy, or the build fails with 'defined multiple times'."
        )
    print(f"Build and check it with: python3 scripts/dev.py check {number}")


# --- check: what the attendee's build does ----------------------------------------------


class Report:
    """One line per expectation. Its text is printed before the call, so that a call that
    never returns (an endless loop in lib.rs) still shows which one it was."""

    def __init__(self) -> None:
        self.failures = 0

    def line(self, expectation: str, problem: str | None) -> None:
        print(f"{expectation}: ", end="")
        self.result(problem)

    def call(self, expectation: str, call: Callable[[], object]) -> tuple[object, str | None]:
        """The call's result, or the description of what it raised."""
        print(f"{expectation}: ", end="", flush=True)
        try:
            return call(), None
        except BaseException as err:  # a PanicException is a BaseException
            if isinstance(err, KeyboardInterrupt):
                raise
            return None, describe(err)

    def result(self, problem: str | None) -> None:
        print(problem or "ok", flush=True)
        self.failures += problem is not None

    def expect(self, expectation: str, call: Callable[[], object], want: object) -> None:
        got, error = self.call(expectation, call)
        if error:
            self.result(error if error.startswith(NOT_WRITTEN) else "got " + error)
        else:
            self.result(None if got == want else f"got {short(got)}")

    def expect_raises(
        self, expectation: str, call: Callable[[], object], kind: type, message: str
    ) -> None:
        got, error = self.call(expectation, call)
        if error is None:
            self.result(f"returned {short(got)} instead")
        else:
            wanted = f"{kind.__name__}({message!r})"
            self.result(None if error == wanted else "got " + error)


def short(value: object, limit: int = 120) -> str:
    """repr() of a result, cut short: a wrong sieve of 10**6 is a long list."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({type(value).__name__})"


TODO_PANIC = "not yet implemented: "  # how a todo!("...") panic's message starts
NOT_WRITTEN = "not written yet"  # what check says instead


def describe(err: BaseException) -> str:
    if type(err).__name__ == "PanicException" and str(err).startswith(TODO_PANIC):
        return f"{NOT_WRITTEN} (the starter's todo!() for {str(err)[len(TODO_PANIC) :]})"
    text = f"{type(err).__name__}({str(err)!r})"
    if isinstance(err, TypeError) and "No constructor defined" in str(err):
        text += " -- put #[new] on the line above `fn new` in the #[pymethods] block"
    return text


def registered(report: Report, module: object, name: str, ex: Exercise) -> bool:
    if hasattr(module, name):
        return True
    other = [found for found in dir(module) if found.lower() == name.lower()]
    source, _ = read_lib()
    defined = re.search(rf"^[ \t]*(?:pub\s+)?(?:fn|struct)\s+{name}\b", source, re.M)
    if other:
        problem = (
            f"missing: rust_demo has `{other[0]}`, and Python names are case-sensitive: call it "
            f"`{name}` in lib.rs, where it is defined and in its registration line"
        )
    elif defined:
        line = source.count("\n", 0, defined.start()) + 1
        problem = (
            f"missing: lib.rs defines {name} (line {line}) but does not register it (cargo's "
            f"warning `{name}` is never used says so): add `{ex.registration}` inside "
            f"`fn rust_demo` (line {module_line(source)}), above its `Ok(())`"
        )
    else:
        problem = (
            f"missing: write it between the Exercise {ex.number} markers in lib.rs and add "
            f"`{ex.registration}` inside `fn rust_demo`, the module function"
        )
    report.line(f"rust_demo.{name} exists", problem)
    return False


def check_factorial(report: Report, module, number: int) -> None:
    ex = EXERCISES[number]
    if not registered(report, module, "factorial", ex):
        return
    command = 'python -c "import rust_demo; print(rust_demo.factorial(10))" prints 3628800'
    try:
        out = subprocess.run(
            [sys.executable, "-c", "import rust_demo; print(rust_demo.factorial(10))"],
            capture_output=True,
            text=True,
            timeout=GUIDE_COMMAND_SECONDS,
        )
    except subprocess.TimeoutExpired:  # run() has killed it
        report.line(
            command, f"still running after {GUIDE_COMMAND_SECONDS} s: a loop that never ends?"
        )
        return
    last = out.stderr.strip().splitlines()[-1:] if out.stderr.strip() else []
    todo = f"pyo3_runtime.PanicException: {TODO_PANIC}"
    if last and last[0].startswith(todo):
        problem: str | None = f"not written yet (the starter's todo!() for {last[0][len(todo) :]})"
    elif out.stdout != "3628800\n":
        problem = f"printed {out.stdout!r} {' '.join(last)}".strip()
    else:
        problem = None
    report.line(command, problem)
    for n, value in ((0, 1), (1, 1), (5, 120), (20, 2432902008176640000)):
        report.expect(f"factorial({n}) == {value}", partial(module.factorial, n), value)
    if number == 2:
        for n in (21, 100):
            report.expect_raises(
                f"factorial({n}) raises ValueError('Input too large (max 20)')",
                partial(module.factorial, n),
                ValueError,
                "Input too large (max 20)",
            )
        session = """
>>> rust_demo.factorial(21)
Traceback (most recent call last):
  ...
ValueError: Input too large (max 20)
"""
        report.line("the guide's Python session of exercise 2", run_session(session, module))


def run_session(session: str, module: object) -> str | None:
    """Run a `>>>` session from the guide; None if every line printed what it shows."""
    import doctest  # here, not at the top: `scripts/dev.py` imports this file on every check

    test = doctest.DocTestParser().get_doctest(session, {"rust_demo": module}, "guide", None, 0)
    failed: list[str] = []

    class Runner(doctest.DocTestRunner):
        def report_failure(self, out, test, example, got):  # type: ignore[no-untyped-def]
            shown = got.strip().splitlines() or [""]
            if shown[0].startswith("Traceback"):  # its last line names the exception
                failed.append(f"{example.source.strip()} raised {shown[-1]}")
            else:
                failed.append(f"{example.source.strip()} printed {shown[0]!r}")

        def report_unexpected_exception(self, out, test, example, exc_info):  # type: ignore[no-untyped-def]
            failed.append(f"{example.source.strip()} raised {describe(exc_info[1])}")

    Runner(optionflags=doctest.ELLIPSIS).run(test, out=lambda _: None)
    if len(failed) > 1:  # what comes after the first failure mostly fails because of it
        return f"{failed[0]} (and {len(failed) - 1} later line(s) of the session fail)"
    return failed[0] if failed else None


def check_counter(report: Report, module) -> None:
    if not registered(report, module, "Counter", EXERCISES[3]):
        return
    session = """
>>> c = rust_demo.Counter()
>>> c.increment()
>>> c.increment()
>>> c.value()
2
>>> c.decrement()
>>> c.value()
1
>>> c.reset()
>>> c.value()
0
>>> c
Counter(value=0)
"""
    report.line("the guide's Python session of exercise 3", run_session(session, module))

    def below_zero() -> tuple[int, str]:
        c = module.Counter()
        c.decrement()
        return c.value(), repr(c)

    report.expect(
        "a new Counter decremented once: value() == -1, repr Counter(value=-1)",
        below_zero,
        (-1, "Counter(value=-1)"),
    )

    def two_counters() -> tuple[int, int]:
        a, b = module.Counter(), module.Counter()
        for _ in range(3):
            a.increment()
        b.increment()
        return a.value(), b.value()

    report.expect("two Counters count separately: (3, 1)", two_counters, (3, 1))


def check_sieve(report: Report, module) -> None:
    sys.path.insert(0, str(ROOT))
    # The guide's Python sieve, and the words the demo puts to its figures.
    from demo import fmt_time, py_sieve, sieve_caption, speedup

    if not registered(report, module, "sieve_of_eratosthenes", EXERCISES[4]):
        return
    for n in (0, 1, 2, 3, 4, 10, 100, 1000, 7919, 100_000, 1_000_000):
        expected = py_sieve(n)
        report.expect(
            f"sieve_of_eratosthenes({n:,}) == the Python sieve's {len(expected):,} "
            + ("prime" if len(expected) == 1 else "primes"),
            partial(module.sieve_of_eratosthenes, n),
            expected,
        )
    if report.failures:
        return
    n = 1_000_000

    import timeit

    def best(func: Callable[[], object], repeat: int = 5) -> float:
        timer = timeit.Timer(func)
        number, _ = timer.autorange()
        return min(timer.repeat(repeat, number)) / number

    rust = best(lambda: module.sieve_of_eratosthenes(n))
    python = best(lambda: py_sieve(n))
    # `check 4` builds release; a module built otherwise (by hand) says so on every figure.
    info = module.build_info() if hasattr(module, "build_info") else {}
    debug = info.get("opt_level") == "0" or info.get("debug_assertions", False)
    mark = "  [debug build]" if debug else ""
    built = f"{info.get('profile', 'unknown')} build (opt-level {info.get('opt_level', '?')})"
    if debug:
        print(
            "\nDEBUG BUILD: Rust runs many times slower than in a release build; "
            "python3 scripts/dev.py check 4 builds release"
        )
    print(f"\nN = {n:,}, {built}, best of 5:")
    print(f"  your Rust sieve_of_eratosthenes: {fmt_time(rust)}{mark}")
    print(f"  the guide's Python sieve:        {fmt_time(python)}")
    print(f"  {speedup(python / rust, debug)}{mark}")
    if hasattr(module, "count_primes"):
        # Where the time goes, measured: the list every list-returning sieve builds, and this
        # repository's sieve without one.
        count = len(py_sieve(n))
        building = best(lambda: list(range(count)))
        sieving = best(lambda: module.count_primes(n, threads=1))
        for line in sieve_caption(n, count, rust, building, sieving):
            print(line)


def verify(number: int) -> int:
    ex = exercise(number)
    print(f"Exercise {number}: {ex.title}")
    try:
        import rust_demo
    except ImportError as err:
        print(f"import rust_demo: {err}")
        if "PyInit_" in str(err):
            print(
                "  The #[pymodule] function's name must be the module's name, rust_demo, as in\n"
                "  Cargo.toml's [lib] name and pyproject.toml's [project] name."
            )
        return 1
    report = Report()
    if ex.region == "factorial":
        check_factorial(report, rust_demo, number)
    elif ex.region == "Counter":
        check_counter(report, rust_demo)
    else:
        check_sieve(report, rust_demo)
    if report.failures:
        print(f"\nExercise {number} is not done yet: {report.failures} expectation(s) above fail.")
        return 1
    print(f"\nExercise {number} is done.")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["freeze"]:
        freeze()
        sys.exit()
    if len(sys.argv) != 3 or sys.argv[1] != "verify" or not re.fullmatch("[0-9]+", sys.argv[2]):
        sys.exit(
            "usage: python scripts/exercises.py verify N  (run by scripts/dev.py check N)\n"
            "       python scripts/exercises.py freeze    (lib.rs's solutions -> solutions.rs)"
        )
    try:
        sys.exit(verify(int(sys.argv[2])))
    except KeyboardInterrupt:  # Ctrl-C reaches `check` too, which says so
        sys.exit(130)
