// libFuzzer target for the config loader: load_model_from_string() on arbitrary bytes.
//
// Expected outcomes: a Model, or an InputError with a message. Anything else is a finding: a
// crash, a sanitizer report, another exception type escaping the loader, a hang, an InputError
// without a message. A config that loads is also described (describe_model) and, when small,
// simulated for two trials, so that a config the validator accepts but the engine cannot run is a
// finding too.
//
// Includes: the loader resolves `include:` entries relative to the config's path. The input is
// named <sandbox>/fuzz.yaml, where <sandbox> is a fresh temporary directory holding copies of the
// shipped configs (so critical_materials.yaml's includes resolve), a config that includes itself,
// an empty file, an empty directory, two valid parts (one with aliases) and a FIFO. Inputs whose
// top-level `include:` names an absolute path, a path with a `..` component or a NUL byte are
// rejected (return -1) before the loader sees them, so the loader never reads a file outside the
// sandbox.
//
// Built by -DCHOKEPOINT_FUZZ=ON (clang, -fsanitize=fuzzer,address,undefined; scripts/fuzz.sh), and
// without libFuzzer as fuzz_config_replay (replay_main.cpp), which ctest runs on
// tests/fuzz/crashes/ and the seed configs.
#include "config/config.hpp"
#include "engine/simulate.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <typeinfo>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#ifndef CHOKEPOINT_SOURCE_DIR
#error "CHOKEPOINT_SOURCE_DIR must name the source tree (its configs/ seed the include sandbox)"
#endif

namespace fs = std::filesystem;

namespace {

[[noreturn]] void finding(const char *what, const std::string &detail) {
    std::fprintf(stderr, "fuzz_config: FINDING: %s: %s\n", what, detail.c_str());
    std::fflush(stderr);
    std::abort();
}

struct Sandbox {
    fs::path dir;
    Sandbox() {
        const char *tmp = std::getenv("TMPDIR");
        std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/chokepoint-fuzz-XXXXXX";
        if (!::mkdtemp(tmpl.data()))
            finding("setup", "mkdtemp failed for " + tmpl);
        dir = tmpl;
        const fs::path configs = fs::path(CHOKEPOINT_SOURCE_DIR) / "configs";
        for (const auto &src : {configs, configs / "examples"}) {
            std::error_code ec;
            for (const auto &e : fs::directory_iterator(src, ec))
                if (e.is_regular_file() && e.path().extension() == ".yaml")
                    fs::copy_file(e.path(), dir / e.path().filename(),
                                  fs::copy_options::overwrite_existing, ec);
        }
        std::ofstream(dir / "cycle.yaml") << "include: [cycle.yaml]\nproducts: [{id: c}]\n";
        std::ofstream(dir / "empty.yaml");
        fs::create_directories(dir / "dir");
        // A valid part (seeds/aliases_includes_scenarios.yaml includes it), one with aliases,
        // and a FIFO: including it must be refused at once, never block.
        std::ofstream(dir / "part.yaml")
            << "facilities:\n  - {id: ore_cn, product: ore, country: CN, capacity: 100}\n";
        std::ofstream(dir / "alias_part.yaml")
            << "factors:\n  - {id: g, dist: &g {uniform: {min: 0.9, max: 1.1}}}\n"
               "  - {id: h, dist: {product: [*g, *g]}}\n";
        if (::mkfifo((dir / "fifo.yaml").c_str(), 0600) != 0)
            finding("setup", "mkfifo failed in " + dir.string());
    }
    ~Sandbox() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

const fs::path &sandbox() {
    static const Sandbox s;
    return s.dir;
}

/// True when `s`, joined to the sandbox, cannot leave it (the sandbox holds no symbolic links).
bool safe_include(const std::string &s) {
    if (s.find('\0') != std::string::npos)
        return false;
    const fs::path p(s);
    if (p.has_root_name() || p.has_root_directory())
        return false;
    for (const auto &part : p)
        if (part == "..")
            return false;
    return true;
}

/// Mirrors the loader's lookup of the top-level `include:` (same yaml-cpp calls). Nested includes
/// come only from the sandbox's own files.
bool includes_stay_in_sandbox(const std::string &text) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception &) {
        return true; // the loader stops at the same syntax error, before reading any include
    } catch (...) {
        return true; // let the loader meet it too: a finding either way
    }
    if (!root.IsMap())
        return true;
    if (const auto inc = root["include"]) {
        if (!inc.IsSequence())
            return true;
        for (std::size_t i = 0; i < inc.size(); ++i)
            if (inc[i].IsScalar() && !safe_include(inc[i].Scalar()))
                return false;
    }
    return true;
}

/// Two trials of a small model that loaded: the validator must not accept what the engine
/// cannot run.
void simulate_small(chokepoint::Model m) {
    if (m.run.horizon_months > 120 || m.facilities.size() > 64 || m.demands.size() > 64 ||
        m.products.size() > 64 || m.events.size() > 64)
        return;
    m.run.trials = 2;
    m.run.block_size = 2;
    chokepoint::Simulator sim(m);
    chokepoint::BlockResult out;
    sim.run_block(0, 2, out);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    (void)sandbox();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string text(reinterpret_cast<const char *>(data), size);
    if (!includes_stay_in_sandbox(text))
        return -1;
    const std::string path = (sandbox() / "fuzz.yaml").string();
    try {
        const chokepoint::Model m = chokepoint::load_model_from_string(text, path);
        (void)chokepoint::describe_model(m);
        simulate_small(m);
    } catch (const chokepoint::InputError &e) {
        if (std::string(e.what()).empty())
            finding("InputError without a message", "(empty)");
    } catch (const std::exception &e) {
        finding("exception escaped the loader", std::string(typeid(e).name()) + ": " + e.what());
    } catch (...) {
        finding("exception escaped the loader", "not a std::exception");
    }
    return 0;
}
