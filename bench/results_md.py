"""Sections of bench/RESULTS.md that each benchmark script rewrites: the text
between <!-- NAME:begin --> and <!-- NAME:end -->, appended if absent."""


def replace_section(path, name, body):
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = f"{begin}\n{body.strip()}\n{end}"
    try:
        current = open(path).read()
    except FileNotFoundError:
        current = ""
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + text + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    open(path, "w").write(current)
