// A run that fails loses nothing (run.hpp): whatever stops run_study -- a bad output path, a write
// that fails mid-run (the RunOptions::fail_after_blocks test hook) -- leaves an existing results
// file at the target byte-identical and no temporary `.<name>.partial-*` file behind.
// Signals (SIGINT/SIGTERM/SIGHUP) and a full disk (a file-size limit, a small tmpfs) are tested
// through the CLI by tests/python/test_signals.py and tests/python/test_disk_full.py: after a real
// HDF5 write failure, HDF5 1.10 crashes at process exit (see main.cpp), which the CLI avoids and
// an in-process test could not.
#include "config/config.hpp"
#include "io/output.hpp"
#include "study/run.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <vector>

using namespace chokepoint;
using chokepoint::test::slurp;
using chokepoint::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kTiny = std::string(CHOKEPOINT_SOURCE_DIR) + "/configs/examples/tiny.yaml";

Model tiny(std::uint64_t trials, std::uint64_t block_size, std::uint64_t seed = 1) {
    Model m = load_model(kTiny);
    m.run.trials = trials;
    m.run.block_size = block_size;
    m.run.seed = seed;
    return m;
}

RunOptions options(const fs::path &target, int threads = 1) {
    RunOptions o;
    o.output = target.string();
    o.threads = threads;
    o.quiet = true;
    return o;
}

/// Runs `f`, which must throw an InputError whose message contains `fragment`.
template <class F> void require_input_error(F &&f, const std::string &fragment) {
    try {
        f();
        FAIL("no InputError (expected one mentioning '" << fragment << "')");
    } catch (const InputError &e) {
        INFO("message: " << e.what());
        CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
}

} // namespace

TEST_CASE("a write failure mid-run leaves the existing file byte-identical", "[failure]") {
    TempDir tmp("fail_midrun");
    const fs::path target = tmp.path / "out.h5";
    run_study(tiny(300, 100), options(target)); // 3 blocks
    const std::string before = slurp(target);
    REQUIRE(!before.empty());

    for (const int threads : {1, 2}) {
        for (const std::uint64_t after : {1, 2, 3}) { // 3: every block written, before closing
            INFO(threads << " threads, failure after " << after << " blocks");
            RunOptions o = options(target, threads);
            o.overwrite = true;
            o.fail_after_blocks = after;
            try {
                run_study(tiny(300, 100, 42), o);
                FAIL("run_study did not fail");
            } catch (const std::system_error &e) {
                CHECK(e.code().value() == EIO);
                CHECK(std::string(e.what()).find("fail_after_blocks") != std::string::npos);
            }
            CHECK(slurp(target) == before);
            CHECK(tmp.names() == std::vector<std::string>{"out.h5"});
        }
    }

    SECTION("with no file at the target, nothing is left at all") {
        RunOptions o = options(tmp.path / "new.h5", 2);
        o.fail_after_blocks = 2;
        CHECK_THROWS_AS(run_study(tiny(300, 100), o), std::system_error);
        CHECK(tmp.names() == std::vector<std::string>{"out.h5"});
    }
    SECTION("the hook after more blocks than the run has does nothing") {
        RunOptions o = options(target, 2);
        o.overwrite = true;
        o.fail_after_blocks = 4;
        CHECK(run_study(tiny(300, 100, 42), o).trials == 300);
        CHECK(slurp(target) != before);
        CHECK(tmp.names() == std::vector<std::string>{"out.h5"});
    }
}

TEST_CASE("bad output paths are refused before any sampling, and touch nothing", "[failure]") {
    TempDir tmp("fail_paths");
    const Model m = tiny(200, 100);
    const fs::path file = tmp.path / "regular";
    std::ofstream(file) << "not a directory\n";
    const fs::path sub = tmp.path / "subdir";
    fs::create_directories(sub);
    std::ofstream(sub / "keep.txt") << "keep\n";
    const auto listing = tmp.names();

    SECTION("a directory that does not exist") {
        RunOptions o = options(tmp.path / "missing" / "x.h5");
        require_input_error([&] { run_study(m, o); }, "does not exist");
        CHECK(!fs::exists(tmp.path / "missing"));
    }
    SECTION("a 'directory' that is a regular file (/existing_file/x.h5)") {
        RunOptions o = options(file / "x.h5");
        o.overwrite = true;
        require_input_error([&] { run_study(m, o); }, "is not a directory");
        CHECK(slurp(file) == "not a directory\n");
    }
    SECTION("an existing directory as the output path, with or without overwrite") {
        for (const bool overwrite : {false, true}) {
            RunOptions o = options(sub);
            o.overwrite = overwrite;
            require_input_error([&] { run_study(m, o); }, "is a directory");
        }
        CHECK(slurp(sub / "keep.txt") == "keep\n");
        RunOptions o = options(sub.string() + "/");
        require_input_error([&] { run_study(m, o); }, "is a directory");
    }
    SECTION("a FIFO (not a regular file) at the target is not replaced, even with overwrite") {
        const fs::path fifo = tmp.path / "pipe.h5";
        REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
        RunOptions o = options(fifo);
        o.overwrite = true;
        require_input_error([&] { run_study(m, o); }, "not a regular file");
        CHECK(fs::is_fifo(fifo));
        fs::remove(fifo);
    }
    SECTION("a directory without write permission") {
        const fs::path ro = tmp.path / "readonly";
        fs::create_directories(ro);
        fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
        if (::access(ro.c_str(), W_OK) == 0) {
            // root (as in CI) may write anyway: the check is access(2), which grants root.
            WARN("running as root: a mode-0500 directory is writable; permission check not "
                 "exercised");
        } else {
            RunOptions o = options(ro / "x.h5");
            require_input_error([&] { run_study(m, o); }, "not writable");
        }
        fs::permissions(ro, fs::perms::owner_all);
        CHECK(fs::is_empty(ro));
        fs::remove(ro);
    }
    SECTION("a directory that passes the checks but refuses new files (/proc) fails cleanly") {
        // /proc is writable to root by mode but no file can be created in it: the failure comes
        // from creating the temporary file, at run time, not from check_output_path.
        if (!fs::is_directory("/proc/self")) {
            WARN("no /proc: test not exercised");
        } else {
            RunOptions o = options("/proc/chokepoint_test.h5");
            CHECK_THROWS(run_study(m, o));
            CHECK(!fs::exists("/proc/chokepoint_test.h5"));
        }
    }
    CHECK(tmp.names() == listing);
}

TEST_CASE("an output that is an input of the run is refused before anything is written",
          "[failure][hostile]") {
    TempDir tmp("fail_output_is_input");
    const fs::path cfg = tmp.path / "study.yaml";
    fs::copy_file(kTiny, cfg);
    const std::string before = slurp(cfg);
    Model m = load_model(cfg.string());
    m.run.trials = 200;
    m.run.block_size = 100;
    SECTION("the config itself, with --overwrite") {
        RunOptions o = options(cfg);
        o.overwrite = true;
        require_input_error([&] { run_study(m, o); }, "is the config");
    }
    SECTION("the config by another path (a symbolic link)") {
        fs::create_symlink(cfg, tmp.path / "link.yaml");
        RunOptions o = options(tmp.path / "link.yaml");
        o.overwrite = true;
        require_input_error([&] { run_study(m, o); }, "is the config");
        fs::remove(tmp.path / "link.yaml");
    }
    SECTION("an output whose checkpoint path is the config") {
        const fs::path ck = tmp.path / "r.h5.checkpoint";
        fs::copy_file(cfg, ck);
        Model mc = load_model(ck.string());
        mc.run.trials = 200;
        RunOptions o = options(tmp.path / "r.h5");
        o.overwrite = true; // else: "a checkpoint of an interrupted run exists"
        require_input_error([&] { run_study(mc, o); }, "is the config");
        CHECK(slurp(ck) == before);
        fs::remove(ck);
    }
    CHECK(slurp(cfg) == before);
    CHECK(tmp.names() == std::vector<std::string>{"study.yaml"});
}

TEST_CASE("long output names: hidden names fit NAME_MAX; names too long are refused up front",
          "[failure][hostile]") {
    TempDir tmp("fail_long_names");
    SECTION("a 244-byte name (its checkpoint name is 255 bytes) runs, checkpointing") {
        const std::string name = std::string(241, 'a') + ".h5";
        RunOptions o = options(tmp.path / name);
        o.checkpoint_every = 1e-9; // a checkpoint (a staging copy) after every block
        CHECK(run_study(tiny(300, 100), o).trials == 300);
        CHECK(tmp.names() == std::vector<std::string>{name});
    }
    SECTION("245 to 255 bytes: the checkpoint name would be too long") {
        for (const std::size_t n : {245u, 250u, 255u}) {
            RunOptions o = options(tmp.path / (std::string(n - 3, 'b') + ".h5"));
            require_input_error([&] { run_study(tiny(300, 100), o); },
                                "too long for its checkpoint");
        }
    }
    SECTION("256 bytes: too long for any file") {
        RunOptions o = options(tmp.path / std::string(256, 'c'));
        require_input_error([&] { run_study(tiny(300, 100), o); }, "is 256 bytes long");
    }
    CHECK((tmp.names().empty() || tmp.names().size() == 1));
}

TEST_CASE("a shard whose data, state or counters changed reads as damaged", "[failure][hostile]") {
    TempDir tmp("fail_damaged_shard");
    const fs::path shard = tmp.path / "s1.h5";
    RunOptions o = options(shard);
    o.shard_index = 1;
    o.shard_count = 2;
    run_study(tiny(400, 100), o);
    REQUIRE(read_stored_run(shard.string()).has_state);
    const std::string good = slurp(shard);
    // Edited through HDF5 (which drops the seal at the end), then sealed again: what a damage
    // that also rewrote the seal would look like; the digests inside must find it.
    auto damaged = [&](auto &&edit, const std::string &what) {
        {
            std::ofstream(shard, std::ios::binary | std::ios::trunc) << good;
            H5::H5File f(shard.string(), H5F_ACC_RDWR);
            edit(f);
        }
        seal_file(shard.string());
        require_input_error([&] { read_stored_run(shard.string()); },
                            "shard '" + shard.string() + "' is damaged: " + what);
    };
    SECTION("a byte changed: the seal no longer matches (found before HDF5 parses the file)") {
        std::string bad = good;
        bad[bad.size() / 2] ^= 0x20;
        std::ofstream(shard, std::ios::binary | std::ios::trunc) << bad;
        require_input_error([&] { read_stored_run(shard.string()); },
                            "'" + shard.string() + "' is damaged: its bytes do not match");
    }
    SECTION("edited without sealing again: no seal") {
        {
            H5::H5File f(shard.string(), H5F_ACC_RDWR);
            f.openGroup("/state").removeAttr("about");
        }
        require_input_error([&] { read_stored_run(shard.string()); },
                            "is not a checkpoint and not a shard of this program: it has no seal");
    }
    SECTION("a per-trial value") {
        damaged(
            [](H5::H5File &f) {
                auto ds = f.openDataSet("/scenarios/baseline/trials/regime");
                std::vector<std::int32_t> v(200);
                ds.read(v.data(), H5::PredType::NATIVE_INT32);
                v[137] ^= 1;
                ds.write(v.data(), H5::PredType::NATIVE_INT32);
            },
            "its per-trial data do not match");
    }
    SECTION("next_block") {
        damaged(
            [](H5::H5File &f) {
                auto g = f.openGroup("/state");
                auto a = g.openAttribute("next_block");
                const std::uint64_t v = 1;
                a.write(H5::PredType::NATIVE_UINT64, &v);
            },
            "its statistics state, counters or layout do not match");
    }
    SECTION("a convergence dataset removed") {
        damaged([](H5::H5File &f) { f.unlink("/scenarios/baseline/convergence/eud"); },
                "dataset /scenarios/baseline/convergence/eud is missing");
    }
    SECTION("the undamaged copy reads") {
        std::ofstream(shard, std::ios::binary | std::ios::trunc) << good;
        CHECK(read_stored_run(shard.string()).next_block == 2);
    }
}
