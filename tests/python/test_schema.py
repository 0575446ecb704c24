#!/usr/bin/env python3
"""The JSON Schema of the config (configs/schema.json) against the shipped configs, the C++ loader
and the docs.

    test_schema.py SOURCE_DIR CHOKEPOINT_EXE

Checks:
  1. the schema is a valid draft-07 schema;
  2. every shipped config (configs/*.yaml, configs/examples/*.yaml, configs/history/*.yaml,
     configs/rare/*.yaml)
     validates against it;
  3. the schema and the loader accept the same keys. Every object of the schema that lists its keys
     (`properties` with `additionalProperties: false`) has a place in a base config (SITES below).
     For each, the object's `examples` together use every key; each example, put in its place,
     validates against the schema and `chokepoint validate` accepts the config. The same example
     with an extra key `zz_unknown` is rejected by both, and the loader's "expected one of: ..."
     list equals the schema's keys. The distribution names the loader knows equal the schema's
     distribution forms;
  4. docs/config-reference.md mentions every key of the schema.

Exit code 0: all passed; 1: a check failed; 77: jsonschema or PyYAML is missing (ctest: skipped;
Debian/Ubuntu: apt-get install python3-jsonschema python3-yaml, see scripts/install_deps.sh).
"""
import copy
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import jsonschema
    import yaml
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}; install python3-jsonschema and python3-yaml (scripts/install_deps.sh)")
    sys.exit(77)

SOURCE_DIR, EXE = sys.argv[1], sys.argv[2]
SCHEMA_PATH = os.path.join(SOURCE_DIR, "configs", "schema.json")
UNKNOWN = "zz_unknown"

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


# --- YAML as the loader (yaml-cpp, YAML 1.2 core schema) reads it --------------------------------
# PyYAML implements YAML 1.1, where `NO` (Norway) and `on` are booleans and `1e3` is a string.
class CoreLoader(yaml.SafeLoader):
    pass


_DROP = {f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float", "timestamp")}
CoreLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in _DROP]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
CoreLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
CoreLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
CoreLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
CoreLoader.add_constructor("tag:yaml.org,2002:int",
                           lambda loader, node: int(loader.construct_scalar(node), 10))


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CoreLoader)


# --- the schema ----------------------------------------------------------------------------------
with open(SCHEMA_PATH, encoding="utf-8") as f:
    SCHEMA = json.load(f)
DEFS = SCHEMA["definitions"]


def validator(def_name=None):
    """A validator for the whole schema, or for one of its definitions."""
    if def_name is None:
        return jsonschema.Draft7Validator(SCHEMA)
    sub = {"$ref": f"#/definitions/{def_name}", "definitions": DEFS}
    return jsonschema.Draft7Validator(sub)


def errors(v, instance):
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in v.iter_errors(instance)]


# 1. a valid draft-07 schema
try:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
except jsonschema.SchemaError as e:
    fail(f"configs/schema.json is not a valid draft-07 schema: {e.message}")

# 2. the shipped configs validate
shipped = sorted(glob.glob(os.path.join(SOURCE_DIR, "configs", "*.yaml")) +
                 glob.glob(os.path.join(SOURCE_DIR, "configs", "examples", "*.yaml")) +
                 glob.glob(os.path.join(SOURCE_DIR, "configs", "history", "*.yaml")) +
                 glob.glob(os.path.join(SOURCE_DIR, "configs", "rare", "*.yaml")))
if len(shipped) < 2:
    fail(f"found only {len(shipped)} shipped configs")
for path in shipped:
    errs = errors(validator(), load_yaml(path))
    for e in errs[:10]:
        fail(f"{os.path.relpath(path, SOURCE_DIR)} does not validate against the schema: {e}")
    if not errs:
        print(f"ok: {os.path.relpath(path, SOURCE_DIR)} validates")

# 3. schema and loader agree on the keys ------------------------------------------------------------
# A valid config using every top-level key; its entries are the places the examples go.
BASE = {
    "name": "schema_base",
    "description": "base config of tests/python/test_schema.py",
    "include": ["part.yaml"],
    "run": {"trials": 10, "seed": 1, "horizon_months": 24, "correlations": []},
    "country_groups": {"allies": ["US", "JP"]},
    "regimes": [{"id": "calm", "weight": 0.7}, {"id": "war", "weight": 0.3}],
    "factors": [{"id": "grade", "dist": {"uniform": {"min": 0.9, "max": 1.1}}}],
    "products": [{"id": "ore"}, {"id": "metal", "recipe": {"ore": 1.25}}],
    "facilities": [
        {"id": "ore_cn", "product": "ore", "country": "CN", "capacity": 100},
        {"id": "metal_cn", "product": "metal", "country": "CN", "capacity": 80},
    ],
    "demands": [
        {"id": "us", "product": "metal", "country": "US", "quantity": 5,
         "stockpile": {"initial": 3}},
    ],
    "lanes": [{"id": "no_ru", "from": "RU", "to": "allies"}],
    "events": [
        {"id": "ban", "type": "export_control", "exporters": "CN", "importers": ["US"],
         "onset": {"probability": 0.3, "month": 6}, "duration_months": 6},
        {"id": "flood", "type": "capacity_shock", "targets": {"countries": ["CN"]},
         "onset": {"hazard_per_year": 0.2}, "duration_months": 3},
    ],
    "scenarios": [],
    "allocation": {"rule": "coordinated"},
}
PART = {"country_groups": {"partners": ["KR", "TW"]}}

# Where an object of each definition goes in BASE: ("set", path) replaces the value at path;
# ("append", path) adds an entry to the list at path; ("dist", kind) sets facilities[0].capacity to
# {kind: example}; ("dist_form", None) sets facilities[0].capacity to the example.
CAPACITY = ["facilities", 0, "capacity"]
SITES = {
    "run": ("set", ["run"]),
    "stop_when": ("set", ["run", "stop_when"]),
    "correlation": ("append", ["run", "correlations"]),
    "scenario": ("append", ["scenarios"]),
    "regime": ("append", ["regimes"]),
    "factor_entry": ("append", ["factors"]),
    "product_entry": ("append", ["products"]),
    "facility": ("append", ["facilities"]),
    "outages": ("set", ["facilities", 0, "outages"]),
    "demand": ("append", ["demands"]),
    "stockpile": ("set", ["demands", 0, "stockpile"]),
    "lane": ("append", ["lanes"]),
    "export_control": ("append", ["events"]),
    "capacity_shock": ("append", ["events"]),
    "onset": ("set", ["events", 0, "onset"]),
    "targets": ("set", ["events", 1, "targets"]),
    "country_set_except": ("set", ["lanes", 0, "from"]),
    "allocation": ("set", ["allocation"]),
}
DIST_FORMS = ["fixed", "uniform", "triangular", "pert", "normal", "lognormal", "beta", "gamma",
              "exponential", "bernoulli", "discrete", "factor", "product", "by_regime"]
for kind in DIST_FORMS:
    SITES[kind] = ("dist_form", None)
    if f"{kind}_params" in DEFS:
        SITES[f"{kind}_params"] = ("dist", kind)


def place(config, site, value):
    """config with value put at site; returns the object the value became (for adding a key)."""
    how, arg = site
    if how == "dist":
        value = {arg: value}
        target = config
        for k in CAPACITY[:-1]:
            target = target[k]
        target[CAPACITY[-1]] = value
        return value[arg]
    if how == "dist_form":
        target = config
        for k in CAPACITY[:-1]:
            target = target[k]
        target[CAPACITY[-1]] = value
        return value
    target = config
    for k in arg[:-1]:
        target = target[k]
    if how == "set":
        target[arg[-1]] = value
    else:
        target[arg[-1]].append(value)
    return value


tmpdir = tempfile.mkdtemp(prefix="chokepoint_schema_")
with open(os.path.join(tmpdir, "part.yaml"), "w") as f:
    json.dump(PART, f)  # JSON is YAML
n_runs = 0


def loader(config, name):
    """Runs `chokepoint validate` on config; returns (exit code, output)."""
    global n_runs
    n_runs += 1
    path = os.path.join(tmpdir, name + ".yaml")
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    r = subprocess.run([EXE, "validate", path], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def expected_keys(output):
    """The key list of the loader's unknown-key message for UNKNOWN."""
    m = re.search(r"unknown key '" + UNKNOWN + r"'.*?; expected one of: ([^\n]*)", output)
    return None if m is None else {k.strip() for k in m.group(1).split(",")}


# the base itself
errs = errors(validator(), BASE)
if errs:
    fail(f"the base config does not validate against the schema: {errs}")
rc, out = loader(BASE, "base")
if rc != 0:
    fail(f"the loader refuses the base config (exit {rc}):\n{out}")

# every closed object of the schema has a site; the top level is checked as the base itself
closed = {name for name, d in DEFS.items()
          if d.get("type") == "object" and d.get("additionalProperties") is False and "properties" in d}
for name in sorted(closed - set(SITES)):
    fail(f"definition '{name}' lists its keys but has no place in SITES of {__file__}: add one")
for name in sorted(set(SITES) - set(DEFS)):
    fail(f"SITES names '{name}', which is not a definition of the schema")

objects = [("(top level)", SCHEMA, None)] + [(n, DEFS[n], SITES[n]) for n in sorted(closed & set(SITES))]
for name, d, site in objects:
    props = set(d["properties"])
    examples = [BASE] if site is None else d.get("examples", [])
    if not examples:
        fail(f"definition '{name}' has no examples")
        continue
    used = set().union(*(set(e) for e in examples))
    if used != props:
        fail(f"the examples of '{name}' do not use every key: missing {sorted(props - used)}, "
             f"extra {sorted(used - props)}")
    # each example: valid for the schema and the loader
    for i, ex in enumerate(examples):
        if site is not None:
            errs = errors(validator(name), ex)
            if errs:
                fail(f"example {i} of '{name}' does not validate against its definition: {errs}")
        config = copy.deepcopy(BASE) if site is not None else copy.deepcopy(ex)
        if site is not None:
            place(config, site, copy.deepcopy(ex))
        errs = errors(validator(), config)
        if errs:
            fail(f"the base config with example {i} of '{name}' does not validate: {errs}")
        rc, out = loader(config, f"{name}_{i}")
        if rc != 0:
            fail(f"the loader refuses example {i} of '{name}' (exit {rc}): {json.dumps(ex)}\n{out}")
    # an unknown key: rejected by both, and the loader lists the same keys as the schema
    if site is not None and site[0] == "dist_form":
        continue  # one-key maps: see the distribution names below
    config = copy.deepcopy(BASE) if site is not None else copy.deepcopy(BASE)
    if site is None:
        config[UNKNOWN] = 1
    else:
        obj = place(config, site, copy.deepcopy(examples[0]))
        obj[UNKNOWN] = 1
    if not errors(validator(), config):
        fail(f"the schema accepts an unknown key '{UNKNOWN}' in '{name}'")
    rc, out = loader(config, f"{name}_unknown")
    if rc != 2:
        fail(f"the loader does not refuse an unknown key in '{name}' (exit {rc}):\n{out}")
    keys = expected_keys(out)
    if keys is None:
        fail(f"the loader's message for an unknown key in '{name}' lacks 'expected one of':\n{out}")
    elif keys != props:
        fail(f"'{name}': the loader accepts {sorted(keys)}, the schema {sorted(props)}")
    else:
        print(f"ok: '{name}': schema and loader agree on {len(props)} keys")

# the distribution names
config = copy.deepcopy(BASE)
place(config, ("dist_form", None), {UNKNOWN: 1})
if not errors(validator(), config):
    fail("the schema accepts an unknown distribution")
rc, out = loader(config, "unknown_distribution")
m = re.search(r"unknown distribution '" + UNKNOWN + r"'.*?; known: ([^\n]*)", out)
schema_forms = {next(iter(DEFS[r["$ref"].split("/")[-1]]["properties"]))
                for r in DEFS["distribution"]["oneOf"] if "$ref" in r}
if rc != 2 or m is None:
    fail(f"the loader does not name the known distributions (exit {rc}):\n{out}")
elif {k.strip() for k in m.group(1).split(",")} != schema_forms:
    fail(f"distributions: the loader knows {m.group(1)}, the schema {sorted(schema_forms)}")
elif schema_forms != set(DIST_FORMS):
    fail(f"distributions: the schema has {sorted(schema_forms)}, this test {sorted(DIST_FORMS)}")
else:
    print(f"ok: schema and loader agree on {len(schema_forms)} distributions")

# 4. the docs mention every key
with open(os.path.join(SOURCE_DIR, "docs", "config-reference.md"), encoding="utf-8") as f:
    docs = f.read()
all_keys = set(SCHEMA["properties"])
for d in DEFS.values():
    all_keys |= set(d.get("properties", {}))
for k in sorted(all_keys):
    if f"`{k}`" not in docs and not re.search(r"[{\s,]" + re.escape(k) + r":", docs):
        fail(f"docs/config-reference.md does not mention the key '{k}'")

# 5. the worked example of the docs validates, against the schema and with the loader
m = re.search(r"^## Worked example\n.*?^```yaml\n(.*?)^```", docs, re.S | re.M)
if m is None:
    fail("docs/config-reference.md has no '## Worked example' with a ```yaml block")
else:
    path = os.path.join(tmpdir, "worked_example.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(m.group(1))
    errs = errors(validator(), load_yaml(path))
    if errs:
        fail(f"the worked example does not validate against the schema: {errs}")
    n_runs += 1
    r = subprocess.run([EXE, "validate", path], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"the loader refuses the worked example (exit {r.returncode}):\n{r.stderr}")
    else:
        print("ok: the worked example of docs/config-reference.md validates")

print(f"{n_runs} loader runs")
if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("all schema checks passed")
