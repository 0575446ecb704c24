#!/usr/bin/env python3
"""`run --shard K/N` + `merge` give the unsharded run's file; merge refuses what does not fit.

usage: test_shards.py CHOKEPOINT CONFIG WORKDIR

CONFIG should have `run.block_size: 1000` (tiny.yaml); the runs are small (7000 trials = 7
blocks). Checks, each printed:

1. Reference: 7000 trials, unsharded.
2. Shards 1/3, 2/3, 3/3: exit 0; each file complete=1 with shard_index/shard_count, contiguous
   slices [first_block, end_block) covering the 7 blocks, sizes differing by at most one block,
   attr trials = its rows, trials_planned 7000, /state next_block = end_block, its own summary
   (`chokepoint summary` exit 0), and its per-trial rows equal the reference's rows of its slice.
3. merge of the 3 shards in three shuffled orders: exit 0, identical to the reference
   (compare_runs.py); no hidden temporary file left.
4. A shard checkpoint: shard 1/3 run with a checkpoint after every block, stopped (SIGSTOP) at its
   first checkpoint event, the checkpoint copied, continued: the copy is incomplete (complete=0,
   shard attrs), `run --resume` of it gives the shard file; the checkpointing run's own file too.
5. N=1 (--shard 1/1), N=7 (one block per shard), and 6500 trials in 2 shards (a short last
   block): merge identical to the unsharded run of the same trials.
6. Refusals of merge, each exit 2, the offending file named, the expected words, no output and no
   temporary file: a shard given twice (same path, and a copy), a missing shard, shards of
   another seed / trial count / config / shard count ("different run"), an incomplete checkpoint
   ("incomplete"), an unsharded results file ("not a shard"), a non-HDF5 file ("HDF5"), a
   missing file.
7. `run --shard` refusals, exit 2, nothing written: 0/2, 3/2, 5/0, abc, 1/2x, -1/2, and more shards
   than blocks (1/8 of 7 blocks).
8. merge onto an existing file without --overwrite: exit 2, the file byte-identical; with
   --overwrite: exit 0, identical to the reference.

Exit status 0 when every check passes, 1 otherwise. Needs h5py and numpy.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_runs  # noqa: E402
from clitest import report, fail, identical, run, trial_datasets  # noqa: E402

TRIALS = 7000


def no_hidden(where, d):
    hidden = [n for n in os.listdir(d) if n.startswith(".")]
    if hidden:
        fail(where, f"hidden files left in {d}: {hidden}")


def make_shards(exe, config, d, trials, n, tag=""):
    paths = []
    for k in range(1, n + 1):
        p = os.path.join(d, f"shard{tag}-{k}-of-{n}.h5")
        rc, _, err = run([exe, "run", config, "-o", p, "--trials", str(trials), "--shard",
                          f"{k}/{n}", "--threads", "1", "-q"])
        if rc != 0:
            fail(f"shard {k}/{n}", f"exit {rc}: {err}")
            return None
        paths.append(p)
    return paths


def check_shard_files(exe, paths, ref_path, n):
    with h5py.File(ref_path, "r") as f:
        ref = {k: ds[()] for k, ds in trial_datasets(f).items()}
        bs = int(f.attrs["block_size"])
        blocks = int(f.attrs["blocks_total"])
    expect_first = 0
    sizes = []
    for k, p in enumerate(paths, 1):
        where = f"shard {k}/{n}"
        with h5py.File(p, "r") as f:
            a = f.attrs
            for name, want in (("shard_index", k), ("shard_count", n), ("complete", 1),
                               ("trials_planned", TRIALS), ("blocks_total", blocks)):
                if name not in a or int(a[name]) != want:
                    fail(where, f"attribute {name} = {a.get(name)!r}, expected {want}")
            first, end = int(a["first_block"]), int(a["end_block"])
            if first != expect_first:
                fail(where, f"first_block {first}, expected {expect_first} (contiguous slices)")
            expect_first = end
            sizes.append(end - first)
            lo, hi = first * bs, min(end * bs, TRIALS)
            if int(a["trials"]) != hi - lo:
                fail(where, f"attr trials {a['trials']}, expected {hi - lo}")
            if "state" not in f or int(f["state"].attrs.get("next_block", -1)) != end:
                fail(where, f"/state missing or its next_block is not end_block {end}")
            if "summary" not in f["scenarios/baseline"]:
                fail(where, "no /scenarios/baseline/summary")
            for name, ds in trial_datasets(f).items():
                if not compare_runs.same_values(ds[()], ref[name][lo:hi]):
                    fail(where, f"/{name} differs from the reference's rows {lo}..{hi - 1}")
        rc, out, err = run([exe, "summary", p])
        if rc != 0 or "baseline" not in out:
            fail(where, f"`chokepoint summary` exit {rc}: {err}")
        print(f"{where}: blocks [{first}, {end}), trials {lo}..{hi - 1}: attributes, state, "
              "summary and rows checked")
    if expect_first != blocks:
        fail(f"shards of {n}", f"the slices end at block {expect_first}, not {blocks}")
    if sizes and max(sizes) - min(sizes) > 1:
        fail(f"shards of {n}", f"slice sizes {sizes} differ by more than one block")


def merge_ok(where, exe, d, out, shards, ref_path):
    rc, _, err = run([exe, "merge", out, *shards, "-q"])
    if rc != 0:
        fail(where, f"merge exit {rc}: {err}")
        return
    if err.strip():
        fail(where, f"merge -q printed on stderr: {err!r}")
    identical(where, out, ref_path)
    no_hidden(where, d)


def shard_checkpoint(exe, config, d):
    """A genuine incomplete checkpoint of shard 1/3; also checks the checkpointing run's file."""
    out = os.path.join(d, "ck-shard-1-of-3.h5")
    copy = os.path.join(d, "incomplete-1-of-3.h5.checkpoint")
    for attempt in range(5):
        for p in (out, out + ".checkpoint", copy):
            if os.path.exists(p):
                os.remove(p)
        p = subprocess.Popen([exe, "run", config, "-o", out, "--trials", str(TRIALS), "--shard",
                              "1/3", "--threads", "1", "--checkpoint-every", "0.001",
                              "--log-format", "json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        got = False
        for line in p.stderr:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "checkpoint":
                p.send_signal(signal.SIGSTOP)
                try:
                    shutil.copyfile(out + ".checkpoint", copy)
                    got = True
                except FileNotFoundError:
                    pass
                p.send_signal(signal.SIGCONT)
                break
        rest = p.stderr.read()
        p.wait(timeout=300)
        if p.returncode != 0:
            fail("shard checkpoint", f"the checkpointing shard run exited {p.returncode}: {rest}")
            return None, None
        if got:
            return out, copy
        print(f"shard checkpoint: the run finished before its checkpoint could be copied "
              f"(attempt {attempt + 1}); again")
    fail("shard checkpoint", "could not catch a checkpoint of shard 1/3 in 5 attempts")
    return None, None


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    exe, config, work = (os.path.abspath(a) for a in sys.argv[1:4])
    rng = random.Random(int(os.environ.get("CHOKEPOINT_TEST_SEED", "20261128")))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    t_all = time.monotonic()
    sd = os.path.join(work, "shards")
    md = os.path.join(work, "merged")
    os.makedirs(sd)
    os.makedirs(md)

    # 1. reference
    ref = os.path.join(work, "ref.h5")
    rc, _, err = run([exe, "run", config, "-o", ref, "--trials", str(TRIALS), "--threads", "2",
                      "-q"])
    if rc != 0:
        fail("reference", f"exit {rc}: {err}")
        return 1
    with h5py.File(ref, "r") as f:
        blocks = int(f.attrs["blocks_total"])
    if blocks != 7:
        print(f"note: CONFIG makes {blocks} blocks of {TRIALS} trials (the test assumes 7)")

    # 2. shards 1/3, 2/3, 3/3
    shards = make_shards(exe, config, sd, TRIALS, 3)
    if shards is None:
        return 1
    check_shard_files(exe, shards, ref, 3)

    # 3. merge in shuffled orders
    orders = [list(reversed(shards))]
    while len(orders) < 3:
        o = shards[:]
        rng.shuffle(o)
        if o != shards and o not in orders:
            orders.append(o)
    for o in orders:
        names = " ".join(os.path.basename(x).split("-")[1] for x in o)
        out = os.path.join(md, "merged.h5")
        if os.path.exists(out):
            os.remove(out)
        merge_ok(f"merge of shards {names}", exe, md, out, o, ref)

    # 4. a shard checkpoint
    ck_out, ck_copy = shard_checkpoint(exe, config, sd)
    if ck_copy:
        identical("shard 1/3 with a checkpoint after every block", ck_out, shards[0])
        with h5py.File(ck_copy, "r") as f:
            a = f.attrs
            nb = int(f["state"].attrs["next_block"])
            if int(a["complete"]) != 0 or int(a["shard_index"]) != 1 or int(a["shard_count"]) != 3:
                fail("shard checkpoint", f"complete {a['complete']}, shard {a['shard_index']}/"
                                         f"{a['shard_count']}: expected 0, 1/3")
            if not int(a["first_block"]) < nb < int(a["end_block"]):
                fail("shard checkpoint", f"next_block {nb} not inside its slice "
                                         f"[{a['first_block']}, {a['end_block']})")
            if int(a["trials"]) != nb * int(a["block_size"]):
                fail("shard checkpoint", f"trials {a['trials']} != next_block {nb} * block_size")
        print(f"shard checkpoint: incomplete copy at next_block {nb}")
        resumed = os.path.join(sd, "resumed-1-of-3.h5")
        rc, _, err = run([exe, "run", "--resume", ck_copy, "-o", resumed, "--threads", "2", "-q"])
        if rc != 0:
            fail("shard checkpoint resume", f"exit {rc}: {err}")
        else:
            identical("resumed shard 1/3 checkpoint", resumed, shards[0])
            os.remove(resumed)
        os.remove(ck_out)

    # 5. N = 1, N = 7 (a block each), 6500 trials in 2 shards
    for n in (1, 7):
        d = os.path.join(work, f"n{n}")
        os.makedirs(d)
        sh = make_shards(exe, config, d, TRIALS, n)
        if sh:
            o = sh[:]
            rng.shuffle(o)
            merge_ok(f"merge of {n} shard(s)", exe, d, os.path.join(d, "merged.h5"), o, ref)
        shutil.rmtree(d, ignore_errors=True)
    d = os.path.join(work, "short_last_block")
    os.makedirs(d)
    ref6500 = os.path.join(d, "ref6500.h5")
    rc, _, err = run([exe, "run", config, "-o", ref6500, "--trials", "6500", "-q"])
    sh = make_shards(exe, config, d, 6500, 2, tag="6500") if rc == 0 else None
    if rc != 0:
        fail("6500 trials", f"reference exit {rc}: {err}")
    elif sh:
        with h5py.File(sh[1], "r") as f:
            if int(f.attrs["trials"]) != 6500 - int(f.attrs["first_block"]) * 1000:
                fail("6500 trials shard 2/2", f"attr trials {f.attrs['trials']}")
        merge_ok("merge of 6500 trials in 2 shards (short last block)", exe, d,
                 os.path.join(d, "merged.h5"), [sh[1], sh[0]], ref6500)
    shutil.rmtree(d, ignore_errors=True)

    # 6. merge refusals
    bad = os.path.join(work, "bad")
    os.makedirs(bad)
    s1, s2, s3 = shards
    s2copy = os.path.join(bad, "copy-of-shard-2.h5")
    shutil.copyfile(s2, s2copy)
    others = {}
    for tag, extra, spec, cfg in (("seed", ["--seed", "99"], "2/3", config),
                                  ("trials", [], "2/3", config),
                                  ("shardcount", [], "2/2", config),
                                  ("config", [], "2/3", None)):
        trials = "8000" if tag == "trials" else str(TRIALS)
        if cfg is None:
            # the same model, another config text (its SHA-256 differs)
            cfg = os.path.join(bad, "changed.yaml")
            with open(config) as fi, open(cfg, "w") as fo:
                fo.write(fi.read() + "\n# a changed comment: another config text\n")
        p = os.path.join(bad, f"other-{tag}.h5")
        rc, _, err = run([exe, "run", cfg, "-o", p, "--trials", trials, "--shard", spec, "-q",
                          *extra])
        if rc != 0:
            fail(f"other shard ({tag})", f"exit {rc}: {err}")
        others[tag] = p
    notshard = ref
    nonh5 = os.path.join(bad, "not-hdf5.h5")
    with open(nonh5, "w") as f:
        f.write("this is not an HDF5 file\n" * 100)
    missing_file = os.path.join(bad, "no-such-shard.h5")
    refusals = [
        ("shard given twice (same path)", [s1, s2, s2, s3], ["given twice"], s2),
        ("shard given twice (a copy)", [s1, s2, s3, s2copy], ["given twice"], s2copy),
        ("missing shard", [s3, s1], ["missing", "2 of 3"], None),
        ("another seed", [s1, others["seed"], s3], ["different run", "seed"], others["seed"]),
        ("another trial count", [s1, others["trials"], s3], ["different run", "trials"],
         others["trials"]),
        ("another config", [s1, others["config"], s3], ["different run", "config"],
         others["config"]),
        ("another shard count", [s1, others["shardcount"], s3], ["different run", "shard count"],
         others["shardcount"]),
        ("an unsharded results file", [s1, notshard, s3], ["not a shard"], notshard),
        ("a non-HDF5 file", [s1, s2, nonh5], ["HDF5"], nonh5),
        ("a missing file", [s1, s2, missing_file], ["no such file"], missing_file),
    ]
    if ck_copy:
        refusals.append(("an incomplete checkpoint", [s2, ck_copy, s3], ["incomplete"], ck_copy))
    out = os.path.join(md, "refused.h5")
    for what, inputs, words, named in refusals:
        rc, _, err = run([exe, "merge", out, *inputs, "-q"])
        msg = err.strip()
        ok = True
        if rc != 2:
            fail(f"merge refusal: {what}", f"exit {rc}, expected 2: {msg}")
            ok = False
        for w in words:
            if w not in msg:
                fail(f"merge refusal: {what}", f"message lacks {w!r}: {msg!r}")
                ok = False
        if named and named not in msg:
            fail(f"merge refusal: {what}", f"message does not name {named}: {msg!r}")
            ok = False
        if os.path.exists(out):
            fail(f"merge refusal: {what}", "an output file was written")
            os.remove(out)
        no_hidden(f"merge refusal: {what}", md)
        if ok:
            print(f"merge refusal, {what}: exit 2: {msg.splitlines()[0] if msg else ''}")

    # 7. --shard refusals
    rd = os.path.join(work, "shard_refusals")
    os.makedirs(rd)
    for spec in ("0/2", "3/2", "5/0", "abc", "1/2x", "-1/2", "1/8"):
        p = os.path.join(rd, "x.h5")
        rc, _, err = run([exe, "run", config, "-o", p, "--trials", str(TRIALS), "--shard", spec,
                          "-q"])
        msg = err.strip()
        if rc != 2:
            fail(f"--shard {spec}", f"exit {rc}, expected 2: {msg}")
        elif "shard" not in msg:
            fail(f"--shard {spec}", f"message does not mention the shard: {msg!r}")
        else:
            print(f"--shard {spec}: exit 2: {msg.splitlines()[0]}")
        if os.listdir(rd):
            fail(f"--shard {spec}", f"files written: {os.listdir(rd)}")
            for n in os.listdir(rd):
                os.remove(os.path.join(rd, n))

    # 8. merge onto an existing file
    existing = os.path.join(md, "existing.h5")
    content = b"an earlier file that a refused merge must not touch\n" * 1000
    with open(existing, "wb") as f:
        f.write(content)
    rc, _, err = run([exe, "merge", existing, s2, s1, s3, "-q"])
    with open(existing, "rb") as f:
        same = f.read() == content
    if rc != 2:
        fail("merge onto an existing file", f"exit {rc}, expected 2: {err}")
    elif not same:
        fail("merge onto an existing file", "the existing file changed")
    else:
        print(f"merge onto an existing file: exit 2, file untouched: {err.strip()}")
    no_hidden("merge onto an existing file", md)
    rc, _, err = run([exe, "merge", existing, s2, s1, s3, "--overwrite", "-q"])
    if rc != 0:
        fail("merge --overwrite", f"exit {rc}: {err}")
    else:
        identical("merge --overwrite onto an existing file", existing, ref)

    # Studies: scenarios with stored inputs, and a pick-freeze (Sobol' indices) run whose indices
    # need every shard: the merged file equals the unsharded run, indices included.
    cfgs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
    for name, cfg, trials, extra in (
            ("scenarios + stored inputs", "studies_scenarios.yaml", 4000, ["--store-inputs"]),
            ("Sobol' indices", "studies_sobol_indices.yaml", 1024, [])):
        dd = os.path.join(work, "study_" + cfg.split(".")[0])
        os.makedirs(dd, exist_ok=True)
        cfg = os.path.join(cfgs, cfg)
        ref_s = os.path.join(dd, "ref.h5")
        rc, _, err = run([exe, "run", cfg, "-o", ref_s, "--trials", str(trials), "--threads", "1",
                          "-q", *extra])
        if rc != 0:
            fail(name, f"reference run: exit {rc}: {err}")
            continue
        parts = []
        for k in (1, 2, 3):
            p_k = os.path.join(dd, f"s{k}.h5")
            rc, _, err = run([exe, "run", cfg, "-o", p_k, "--trials", str(trials), "--shard",
                              f"{k}/3", "--threads", "1", "-q", *extra])
            if rc != 0:
                fail(name, f"shard {k}/3: exit {rc}: {err}")
            parts.append(p_k)
        merged_s = os.path.join(dd, "merged.h5")
        rc, _, err = run([exe, "merge", merged_s, parts[2], parts[0], parts[1], "-q"])
        if rc != 0:
            fail(name, f"merge: exit {rc}: {err}")
            continue
        identical(f"{name}: merged shards", merged_s, ref_s)
        if "Sobol" in name:
            with h5py.File(merged_s, "r") as f, h5py.File(parts[0], "r") as g:
                if "sobol_indices" not in f["scenarios/baseline"]:
                    fail(name, "the merged file has no sobol_indices")
                if "sobol_indices" in g["scenarios/baseline"]:
                    fail(name, "a shard holds Sobol' indices of its slice only")

    print(f"-- {time.monotonic() - t_all:.1f} s in all")
    return report("shard", work)


if __name__ == "__main__":
    sys.exit(main())
