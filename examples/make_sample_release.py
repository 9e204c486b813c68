#!/usr/bin/env python3
"""Writes the C source of a sample program as released in version N.

Each release changes a few functions, adds one, and edits the string table, as
a real maintenance release does; everything else stays, so the compiled
binaries of neighbouring versions differ the way real release builds do (code
moves, call displacements and pointers shift).
Usage: make_sample_release.py VERSION_INDEX > app.c
"""
import random
import sys

FUNCTIONS = 600


def function(i, version):
    rng = random.Random(i * 7919 + (version if i % 97 == version % 97 else 0))
    ops = []
    for k in range(4 + rng.randrange(12)):
        a, b = rng.randrange(1, 1000), rng.randrange(1, 31)
        ops.append(rng.choice([
            f"x = x * {a}u + {b}u;",
            f"x ^= x >> {b};",
            f"if (x & {a}u) x += f{rng.randrange(max(1, i))}(x);" if i > 0 else "x += 1;",
            f"x = (x << {b % 8 + 1}) | (x >> {31 - b % 8});",
            f"x += table[(x + {a}u) % TABLE];",
        ]))
    body = "\n  ".join(ops)
    return f"static unsigned f{i}(unsigned x) {{\n  {body}\n  return x;\n}}\n"


def main():
    version = int(sys.argv[1])
    out = ["#include <stdio.h>", "#include <string.h>", "#define TABLE 256",
           "static unsigned table[TABLE];"]
    n = FUNCTIONS + version  # each release adds a function
    out += [f"static unsigned f{i}(unsigned x);" for i in range(n)]
    out += [function(i, version) for i in range(n)]
    messages = [f'"message {k} of release 5.0.{version if k % 50 == 0 else 0}"'
                for k in range(300)]
    out.append("static const char *messages[] = {" + ", ".join(messages) + "};")
    calls = " + ".join(f"f{i}(seed)" for i in range(0, n, 3))
    out.append("int main(int argc, char **argv) {\n"
               "  unsigned seed = (unsigned)argc;\n"
               "  for (int i = 0; i < TABLE; i++) table[i] = i * 2654435761u;\n"
               f"  unsigned r = {calls};\n"
               f'  printf("sample 5.0.{version}: %u %s\\n", r, messages[r % 300]);\n'
               "  return argv[0] == 0;\n}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
