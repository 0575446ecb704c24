// Micro-benchmarks (Google Benchmark) of the engine's hot paths; run by scripts/bench.sh.
// Not a test: it prints figures and asserts nothing.
#include "config/config.hpp"
#include "core/random.hpp"
#include "engine/allocation.hpp"
#include "engine/simulate.hpp"
#include "io/chunk_scan.hpp"
#include "io/h5util.hpp"

#include <benchmark/benchmark.h>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#ifndef CHOKEPOINT_SOURCE_DIR
#error "CHOKEPOINT_SOURCE_DIR must be defined"
#endif

namespace {
using namespace chokepoint;

const Model &model(const std::string &name) {
    static std::map<std::string, Model> cache;
    auto it = cache.find(name);
    if (it == cache.end())
        it =
            cache.emplace(name, load_model(std::string(CHOKEPOINT_SOURCE_DIR) + "/configs/" + name))
                .first;
    return it->second;
}

void BM_Philox(benchmark::State &state) {
    Stream s(42, 7, quantity_id("bench"));
    double acc = 0;
    for (auto _ : state)
        acc += s.uniform01();
    benchmark::DoNotOptimize(acc);
}
BENCHMARK(BM_Philox);

// The same stream a batch at a time (Stream::fill: whole blocks side by side, as the summary's
// bootstrap draws them), per value; compare with BM_Philox's one value per call.
void BM_StreamFill(benchmark::State &state) {
    Stream s(42, 7, quantity_id("bench"));
    std::vector<std::uint64_t> batch(1024);
    std::uint64_t acc = 0;
    for (auto _ : state) {
        s.fill(batch.data(), batch.size());
        acc += batch[batch.size() - 1];
    }
    benchmark::DoNotOptimize(acc);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(batch.size()));
    state.SetLabel(philox_uses_avx2() ? "AVX2 lanes" : "SSE2 lanes"); // found at run time
}
BENCHMARK(BM_StreamFill);

// Trials per second of one thread on a shipped config (a block of 100 trials per iteration).
void BM_Trials(benchmark::State &state, const char *config) {
    const Model &m = model(config);
    Simulator sim(m);
    BlockResult block;
    std::uint64_t first = 0;
    for (auto _ : state) {
        sim.run_block(first, 100, block);
        first += 100;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(first));
    const auto &st = sim.allocator_stats();
    state.counters["LPs/trial"] = static_cast<double>(st.lps) / static_cast<double>(first);
    state.counters["cold/trial"] =
        static_cast<double>(st.cold_first + st.cold_changed + st.cold_failed) /
        static_cast<double>(first);
    state.counters["pivots/trial"] = static_cast<double>(st.pivots) / static_cast<double>(first);
}
BENCHMARK_CAPTURE(BM_Trials, tiny, "examples/tiny.yaml")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Trials, gallium, "gallium.yaml")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Trials, samarium_cobalt, "samarium_cobalt.yaml")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Trials, ndfeb, "ndfeb.yaml")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Trials, critical_materials, "critical_materials.yaml")
    ->Unit(benchmark::kMillisecond);

// Reading a per-trial table back as the summary does (exact quantiles, CVaR): the default study's
// monthly shortfall, 20,000 trials x 22 demands x 36 months of float, ~90% zeros, deflated in
// chunks of a block (250 trials) without the shuffle, as the writer stores it. Arg 0: H5Dread in
// slabs (HDF5 inflates on the calling thread, as before scan_rows); arg k > 0: scan_rows on k
// threads. Bytes processed: the table's values as doubles.
void BM_ScanMonthly(benchmark::State &state) {
    constexpr std::size_t kRows = 20000, kD = 22, kH = 36, kWidth = kD * kH;
    static const std::string path = [] {
        const std::string p = "/tmp/chokepoint_bench_scan_" + std::to_string(getpid()) + ".h5";
        std::atexit([] { std::remove(path.c_str()); });
        H5::H5File f(p, H5F_ACC_TRUNC);
        H5::Group g = f.openGroup("/");
        io_detail::Appendable a(g, "monthly", H5::PredType::NATIVE_FLOAT, {kD, kH}, 250, false);
        std::mt19937_64 rng(1);
        std::uniform_real_distribution<float> u(0, 1);
        std::vector<float> block(250 * kWidth);
        for (std::size_t b = 0; b < kRows / 250; ++b) {
            for (auto &x : block)
                x = u(rng) < 0.9f ? 0.0f : 10 * u(rng);
            a.append(block.data(), 250);
        }
        return p;
    }();
    H5::H5File f(path, H5F_ACC_RDONLY);
    auto ds = f.openDataSet("/monthly");
    const auto threads = static_cast<int>(state.range(0));
    double sum = 0;
    auto take = [&](const double *row) { sum += row[0]; };
    for (auto _ : state) {
        if (threads == 0)
            scan_rows(ds, kRows, kWidth, 1, take, std::size_t(-1)); // every table via H5Dread
        else
            scan_rows(ds, kRows, kWidth, threads, take, 0);
    }
    benchmark::DoNotOptimize(sum);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kRows * kWidth * 8));
}
BENCHMARK(BM_ScanMonthly)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
