#!/usr/bin/env python3
"""Validate DSA agreement files against agreements/agreement.schema.json.

Usage: tools/validate-schema.py [--schema FILE] DIR|FILE...

Every *.yaml / *.yml in each DIR (not *.test.yaml, the golden cases) is validated with
JSON Schema 2020-12. Failures are printed as

    FILE:LINE:COL: error: MESSAGE at JSON-PATH [schema]

and the exit status is 1; 0 when every file is valid; 2 for usage or unreadable input.
YAML is read the way the gateway reads it: dates and times stay strings, duplicate keys
are errors. Requires the Debian packages python3-yaml and python3-jsonschema.
"""
import argparse
import json
import os
import sys

try:
    import yaml
    from jsonschema import Draft202012Validator
except ImportError as exc:  # pragma: no cover
    sys.stderr.write(f"validate-schema: {exc}; install python3-yaml and python3-jsonschema\n")
    sys.exit(2)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.join(HERE, os.pardir, "agreements", "agreement.schema.json")


class StrictLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: 2026-04-01 stays the string the loader sees."""


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class YamlError(Exception):
    def __init__(self, mark, message):
        super().__init__(message)
        self.mark = mark


def to_python(loader, node, path, marks):
    """Convert a composed node into Python data, recording the start mark of every JSON path."""
    marks[path] = node.start_mark
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise YamlError(key_node.start_mark, f"mapping key {key!r} is not a string")
            if key in out:
                raise YamlError(key_node.start_mark, f"duplicate key {key!r}")
            child = f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"
            out[key] = to_python(loader, value_node, child, marks)
            marks.setdefault(child + "#key", key_node.start_mark)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [to_python(loader, item, f"{path}[{i}]", marks) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path):
    with open(path, "rb") as fh:
        loader = StrictLoader(fh.read())
    try:
        node = loader.get_single_node()
        if node is None:
            raise YamlError(None, "empty document")
        marks = {}
        return to_python(loader, node, "$", marks), marks
    finally:
        loader.dispose()


def json_path(error):
    out = "$"
    for part in error.absolute_path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def best_mark(marks, path, error):
    # For an unknown key, point at the key itself.
    if error.validator == "additionalProperties" and error.instance is not None and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        for key in error.instance:
            if key not in allowed:
                child = f"{path}.{key}" if str(key).isidentifier() else f"{path}[{json.dumps(key)}]"
                if child + "#key" in marks:
                    return marks[child + "#key"]
    while path not in marks and path != "$":
        path = path.rsplit(".", 1)[0] if "." in path.split("[")[-1] or "[" not in path else path.rsplit("[", 1)[0]
    return marks.get(path)


def collect(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                if name.endswith((".test.yaml", ".test.yml")):
                    continue
                if name.endswith((".yaml", ".yml")):
                    files.append(os.path.join(p, name))
        elif os.path.isfile(p):
            files.append(p)
        else:
            raise FileNotFoundError(p)
    return files


def main(argv):
    ap = argparse.ArgumentParser(description="Validate DSA agreements against the dsa/v1 JSON Schema.")
    ap.add_argument("--schema", default=DEFAULT_SCHEMA, help="schema file (default: agreements/agreement.schema.json)")
    ap.add_argument("paths", nargs="+", metavar="DIR|FILE")
    args = ap.parse_args(argv)

    try:
        with open(args.schema, encoding="utf-8") as fh:
            schema = json.load(fh)
        Draft202012Validator.check_schema(schema)
        files = collect(args.paths)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"validate-schema: {exc}\n")
        return 2
    except Exception as exc:  # SchemaError
        sys.stderr.write(f"validate-schema: invalid schema {args.schema}: {exc}\n")
        return 2
    if not files:
        sys.stderr.write("validate-schema: no agreement files found\n")
        return 2

    validator = Draft202012Validator(schema)
    failed = 0
    for path in files:
        try:
            data, marks = load_yaml(path)
        except YamlError as exc:
            loc = f"{exc.mark.line + 1}:{exc.mark.column + 1}" if exc.mark else "1:1"
            print(f"{path}:{loc}: error: {exc} [yaml]")
            failed += 1
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            loc = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
            print(f"{path}:{loc}: error: {getattr(exc, 'problem', None) or exc} [yaml]")
            failed += 1
            continue
        except OSError as exc:
            sys.stderr.write(f"validate-schema: {exc}\n")
            return 2
        errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
        for err in errors:
            jp = json_path(err)
            mark = best_mark(marks, jp, err)
            loc = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
            message = err.message if len(err.message) <= 300 else err.message[:297] + "..."
            print(f"{path}:{loc}: error: {message} at {jp} [schema]")
        if errors:
            failed += 1
        else:
            print(f"{path}: ok")
    print(f"{len(files) - failed} valid, {failed} invalid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
