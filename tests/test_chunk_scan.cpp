// scan_rows (src/io/chunk_scan.cpp): the per-trial tables read back chunk by chunk and inflated
// in parallel give exactly the values that were written, row by row in order, as H5Dread does;
// tables it does not decode itself (other filters, another layout) fall back to H5Dread.
#include "io/chunk_scan.hpp"
#include "io/h5util.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

using namespace chokepoint;
using chokepoint::io_detail::Appendable;

namespace {

std::string tmp_file(const std::string &name) {
    return std::string(CHOKEPOINT_TEST_TMP) + "/" + name;
}

/// Rows of `width` values like the writer's: mostly zeros, some positive, a few negative zeros,
/// subnormals and large values (every bit must come back).
template <class T> std::vector<T> table(std::size_t rows, std::size_t width, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<T> v(rows * width);
    for (auto &x : v) {
        const double r = u(rng);
        x = r < 0.7    ? T(0)
            : r < 0.72 ? T(-0.0)
            : r < 0.74 ? std::numeric_limits<T>::denorm_min() * T(3)
            : r < 0.76 ? T(1e30)
                       : static_cast<T>(100 * u(rng));
    }
    return v;
}

/// What scan_rows hands on, flattened.
std::vector<double> scanned(H5::DataSet &ds, std::uint64_t n, std::uint64_t width, int threads,
                            std::size_t min_bytes) {
    std::vector<double> out;
    scan_rows(
        ds, n, width, threads, [&](const double *row) { out.insert(out.end(), row, row + width); },
        min_bytes);
    return out;
}

template <class T> bool same_bits(const std::vector<double> &got, const std::vector<T> &want) {
    if (got.size() != want.size())
        return false;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double w = static_cast<double>(want[i]);
        if (std::memcmp(&got[i], &w, sizeof w) != 0)
            return false;
    }
    return true;
}

template <class T> void check_round_trip(bool shuffle, const H5::PredType &type) {
    // The monthly table's shape (24 demands x 36 months), 1003 rows in chunks of 100 (a partial
    // last chunk): a batch of chunks is over 1 MiB, so that 2 or more threads inflate in parallel.
    const std::vector<hsize_t> inner{24, 36};
    const std::size_t width = 24 * 36, rows = 1003;
    const auto data = table<T>(rows, width, shuffle ? 1 : 2);
    const auto path = tmp_file(std::string("chunk_scan_") + (shuffle ? "s" : "p") +
                               std::to_string(sizeof(T)) + ".h5");
    H5::H5File f(path, H5F_ACC_TRUNC);
    H5::Group g = f.openGroup("/");
    Appendable a(g, "t", type, inner, 100, shuffle);
    // Appended in uneven batches, as blocks of a run are.
    for (std::size_t at = 0, k = 0; at < rows; ++k) {
        const std::size_t r = std::min<std::size_t>(rows - at, 37 + 91 * (k % 3));
        a.append(data.data() + at * width, r);
        at += r;
    }
    auto &ds = a.dataset();
    REQUIRE(io_detail::chunk_scan_applies(ds, width));
    INFO("shuffle " << shuffle << ", " << sizeof(T) << "-byte values");
    // Read while the writer's last chunks may still be in HDF5's cache, then after closing.
    for (int threads : {1, 2, 3})
        CHECK(same_bits(scanned(ds, rows, width, threads, 0), data));
    CHECK(same_bits(scanned(ds, rows, width, 2, std::size_t(1) << 30), data)); // via H5Dread
    // Fewer rows than the table holds: only those.
    const auto head = scanned(ds, 250, width, 2, 0);
    CHECK(same_bits(head, std::vector<T>(data.begin(), data.begin() + 250 * width)));
    f.close();
    H5::H5File r(path, H5F_ACC_RDONLY);
    auto ds2 = r.openDataSet("/t");
    CHECK(same_bits(scanned(ds2, rows, width, 2, 0), data));
}

} // namespace

TEST_CASE("scan_rows returns the stored values bit for bit, in row order", "[chunk_scan]") {
    check_round_trip<float>(false, H5::PredType::NATIVE_FLOAT);
    check_round_trip<float>(true, H5::PredType::NATIVE_FLOAT);
    check_round_trip<double>(false, H5::PredType::NATIVE_DOUBLE);
    check_round_trip<double>(true, H5::PredType::NATIVE_DOUBLE);
}

TEST_CASE("scan_rows falls back to H5Dread for what it does not decode", "[chunk_scan]") {
    const std::size_t width = 4, rows = 300;
    const auto data = table<double>(rows, width, 3);
    H5::H5File f(tmp_file("chunk_scan_other.h5"), H5F_ACC_TRUNC);
    hsize_t dims[2] = {rows, width}, chunk[2] = {64, width};
    H5::DataSpace space(2, dims);
    // Deflated chunks of `chunk_dims` (and the checksum filter with `fletcher32`).
    auto chunked = [](hsize_t *chunk_dims, bool fletcher32) {
        H5::DSetCreatPropList pl;
        pl.setChunk(2, chunk_dims);
        pl.setDeflate(1);
        if (fletcher32)
            pl.setFletcher32();
        return pl;
    };
    // Not decoded by scan_rows itself, and read all the same.
    auto falls_back = [&](H5::DataSet &ds, const auto &values) {
        CHECK_FALSE(io_detail::chunk_scan_applies(ds, width));
        CHECK(same_bits(scanned(ds, rows, width, 2, 0), values));
    };
    SECTION("a checksum filter (fletcher32) after deflate") {
        auto ds = f.createDataSet("x", H5::PredType::NATIVE_DOUBLE, space, chunked(chunk, true));
        ds.write(data.data(), H5::PredType::NATIVE_DOUBLE);
        falls_back(ds, data);
    }
    SECTION("a contiguous dataset") {
        auto ds = f.createDataSet("y", H5::PredType::NATIVE_DOUBLE, space);
        ds.write(data.data(), H5::PredType::NATIVE_DOUBLE);
        falls_back(ds, data);
    }
    SECTION("chunks that split a row") {
        hsize_t half[2] = {64, 2};
        auto ds = f.createDataSet("z", H5::PredType::NATIVE_DOUBLE, space, chunked(half, false));
        ds.write(data.data(), H5::PredType::NATIVE_DOUBLE);
        falls_back(ds, data);
    }
    SECTION("an integer dataset") {
        std::vector<std::int32_t> ints(rows * width);
        for (std::size_t i = 0; i < ints.size(); ++i)
            ints[i] = static_cast<std::int32_t>(i % 17) - 8;
        auto ds = f.createDataSet("i", H5::PredType::NATIVE_INT32, space, chunked(chunk, false));
        ds.write(ints.data(), H5::PredType::NATIVE_INT32);
        falls_back(ds, ints);
    }
}
