// libFuzzer target for reading checkpoints and shards: read_stored_run() on arbitrary bytes, as
// `chokepoint run --resume` and `chokepoint merge` read them.
//
// The bytes are written to a file (<tmp>/fuzz.h5.checkpoint, rewritten for each input) and read
// with read_stored_run(); a stored run that reads is rebuilt with model_of() (its stored config
// through the loader). Expected outcomes: a StoredRun, or an InputError with a message (a damaged
// or foreign file). Anything else is a finding: a crash, a sanitizer report, another exception
// (std::bad_alloc from a size a damaged file claims, an HDF5 exception escaping), a hang.
//
// Seeds: checkpoints and shards that scripts/fuzz.sh writes with the same build (small runs of
// configs/examples/tiny.yaml), so that mutations start from files that pass the integrity check.
// HDF5 itself (Debian's build) is not instrumented: a crash inside libhdf5 on a malformed file is
// an HDF5 bug (docs/robustness.md lists those found).
//
// Built by -DCHOKEPOINT_FUZZ=ON (scripts/fuzz.sh checkpoint), and without libFuzzer as
// fuzz_checkpoint_replay (replay_main.cpp), which ctest runs on tests/fuzz/checkpoint_crashes/.
#include "config/config.hpp"
#include "io/output.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <typeinfo>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

[[noreturn]] void finding(const char *what, const std::string &detail) {
    std::fprintf(stderr, "fuzz_checkpoint: FINDING: %s: %s\n", what, detail.c_str());
    std::fflush(stderr);
    std::abort();
}

struct Scratch {
    fs::path dir;
    Scratch() {
        const char *tmp = std::getenv("TMPDIR");
        std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/chokepoint-fuzzck-XXXXXX";
        if (!::mkdtemp(tmpl.data()))
            finding("setup", "mkdtemp failed for " + tmpl);
        dir = tmpl;
    }
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

const fs::path &scratch() {
    static const Scratch s;
    return s.dir;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    (void)scratch();
    chokepoint::quiet_hdf5_errors();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const fs::path path = scratch() / "fuzz.h5.checkpoint";
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char *>(data), static_cast<std::streamsize>(size));
        if (!out)
            finding("setup", "cannot write " + path.string());
    }
    try {
        const chokepoint::StoredRun r = chokepoint::read_stored_run(path.string());
        (void)chokepoint::model_of(r);
    } catch (const chokepoint::InputError &e) {
        if (std::string(e.what()).empty())
            finding("InputError without a message", "(empty)");
    } catch (const std::exception &e) {
        finding("exception escaped read_stored_run/model_of",
                std::string(typeid(e).name()) + ": " + e.what());
    } catch (...) {
        finding("exception escaped read_stored_run/model_of", "not a std::exception");
    }
    return 0;
}
