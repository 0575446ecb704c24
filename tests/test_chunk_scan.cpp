// The per-trial tables' chunks, encoded and decoded by chokepoint itself (src/io/chunk_codec.cpp).
// scan_rows (src/io/chunk_scan.cpp): the tables read back chunk by chunk and inflated in parallel
// give exactly the values that were written, row by row in order, as H5Dread does; tables it does
// not decode itself (other filters, another layout) fall back to H5Dread. Packed chunks
// (encode_chunk, stored by Appendable::append_rows with H5Dwrite_chunk): the file holds the same
// stored bytes as when HDF5 deflates the rows itself; chunks that do not fit the dataset there
// are not stored, the rows are written instead.
#include "io/chunk_codec.hpp"
#include "io/chunk_scan.hpp"
#include "io/h5util.hpp"
#include "stored_chunks.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <type_traits>
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

namespace {

/// `rows` rows at `data` cut into chunks of the codec `c` from the first row, each encoded, as
/// the pipeline packs a block's table (io/output.cpp, BlockPacker).
PackedTable pack_rows(const io_detail::ChunkCodec &c, const void *data, std::size_t rows) {
    PackedTable p = c.packed_table();
    p.rows = rows;
    std::vector<unsigned char> scratch;
    const std::size_t row_bytes = c.row_values * c.elem;
    for (std::size_t at = 0; at < rows; at += c.chunk_rows) {
        p.chunks.emplace_back();
        io_detail::encode_chunk(c, static_cast<const unsigned char *>(data) + at * row_bytes,
                                std::min<std::size_t>(c.chunk_rows, rows - at), scratch,
                                p.chunks.back());
    }
    return p;
}

template <class T> std::vector<T> read_all(H5::DataSet &ds, const H5::PredType &type) {
    std::vector<T> v(static_cast<std::size_t>(ds.getSpace().getSimpleExtentNpoints()));
    ds.read(v.data(), type);
    return v;
}

/// Appends `data` (rows of `inner`) in blocks of `block` rows to two datasets of chunks of
/// `chunk_rows`: one written by HDF5 (rows), one from packed chunks. Their values and their
/// stored chunks must be the same, and the packed one must have taken the packed path.
template <class T>
void check_packed(const H5::PredType &type, std::vector<hsize_t> inner, bool shuffle,
                  hsize_t chunk_rows, std::size_t block, const std::vector<T> &data,
                  const std::string &tag) {
    std::size_t width = 1;
    for (hsize_t d : inner)
        width *= static_cast<std::size_t>(d);
    const std::size_t rows = data.size() / width;
    H5::H5File f(tmp_file("chunk_pack_" + tag + ".h5"), H5F_ACC_TRUNC);
    H5::Group g = f.openGroup("/");
    Appendable plain(g, "plain", type, inner, chunk_rows, shuffle);
    Appendable packed(g, "packed", type, inner, chunk_rows, shuffle);
    const auto &c = packed.codec();
    REQUIRE(c.ok);
    REQUIRE(c.chunk_rows == chunk_rows);
    REQUIRE((c.shuffle_pos == 0) == shuffle);
    REQUIRE(c.deflate_pos == (shuffle ? 1 : 0));
    REQUIRE(c.level == 1);
    Sha256 d_plain, d_packed;
    for (std::size_t at = 0; at < rows; at += block) {
        const std::size_t r = std::min(block, rows - at);
        plain.append(data.data() + at * width, r, &d_plain);
        const PackedTable p = pack_rows(c, data.data() + at * width, r);
        packed.append_rows(data.data() + at * width, r, &d_packed, &p);
    }
    CHECK(d_plain.digest() == d_packed.digest()); // the digest covers the rows either way
    CHECK(read_all<T>(packed.dataset(), type) == data);
    CHECK(test::same_stored_chunks(plain.dataset(), packed.dataset()) > 0);
    // The packed path was taken: chunks of other data, handed with these rows, are what the
    // file holds.
    Appendable other(g, "other", type, inner, chunk_rows, shuffle);
    std::vector<T> twice(data.size());
    for (std::size_t i = 0; i < data.size(); ++i)
        twice[i] = static_cast<T>(data[i] + data[i] + T(1));
    for (std::size_t at = 0; at < rows; at += block) {
        const std::size_t r = std::min(block, rows - at);
        const PackedTable p = pack_rows(c, twice.data() + at * width, r);
        other.append_rows(data.data() + at * width, r, nullptr, &p);
    }
    CHECK(read_all<T>(other.dataset(), type) == twice);
    f.close();
    // And the file reads the same after closing, through H5Dread and through scan_rows.
    H5::H5File r(tmp_file("chunk_pack_" + tag + ".h5"), H5F_ACC_RDONLY);
    auto ds = r.openDataSet("/packed");
    CHECK(read_all<T>(ds, type) == data);
    if constexpr (std::is_floating_point_v<T>)
        CHECK(same_bits(scanned(ds, rows, width, 2, 0), data));
}

template <class T> std::vector<T> int_table(std::size_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::vector<T> v(n);
    for (auto &x : v)
        x = rng() % 3 == 0 ? static_cast<T>(rng() % 1000) : T(0);
    return v;
}

} // namespace

TEST_CASE("packed chunks are stored as HDF5 stores the rows, byte for byte", "[chunk_scan]") {
    // Blocks of 250 rows in chunks of 250 (the writer's layout), the last block short.
    SECTION("monthly shortfalls: floats, 24 x 36 a row, unshuffled") {
        check_packed<float>(H5::PredType::NATIVE_FLOAT, {24, 36}, false, 250, 250,
                            table<float>(1103, 24 * 36, 4), "f");
    }
    SECTION("doubles, shuffled") {
        check_packed<double>(H5::PredType::NATIVE_DOUBLE, {7}, true, 250, 250,
                             table<double>(1103, 7, 5), "ds");
    }
    SECTION("doubles, unshuffled, one value a row") {
        check_packed<double>(H5::PredType::NATIVE_DOUBLE, {}, false, 250, 250,
                             table<double>(777, 1, 6), "d1");
    }
    SECTION("32-bit integers, shuffled") {
        check_packed<std::int32_t>(H5::PredType::NATIVE_INT32, {5}, true, 250, 250,
                                   int_table<std::int32_t>(1103 * 5, 7), "i");
    }
    SECTION("trial numbers (64-bit unsigned), shuffled") {
        std::vector<std::uint64_t> idx(1103);
        for (std::size_t i = 0; i < idx.size(); ++i)
            idx[i] = 5000 + i;
        check_packed<std::uint64_t>(H5::PredType::NATIVE_UINT64, {}, true, 250, 250, idx, "u");
    }
    SECTION("a block of several chunks (chunks of fewer rows than a block)") {
        check_packed<double>(H5::PredType::NATIVE_DOUBLE, {3}, true, 100, 300,
                             table<double>(1000, 3, 8), "multi");
    }
    SECTION("a run shorter than one chunk") {
        check_packed<float>(H5::PredType::NATIVE_FLOAT, {2, 3}, false, 250, 250,
                            table<float>(40, 6, 9), "short");
    }
}

TEST_CASE("packed chunks that do not fit the dataset are not stored: the rows are written",
          "[chunk_scan]") {
    const std::size_t width = 4;
    const auto data = table<double>(600, width, 10);
    H5::H5File f(tmp_file("chunk_pack_misfit.h5"), H5F_ACC_TRUNC);
    H5::Group g = f.openGroup("/");
    // The packed chunks hold other values: a table that took them would read back wrong.
    std::vector<double> other(data.size(), 42.0);
    SECTION("a block whose first row does not start a chunk") {
        Appendable a(g, "t", H5::PredType::NATIVE_DOUBLE, {width}, 100, true);
        a.append(data.data(), 50);
        const PackedTable p = pack_rows(a.codec(), other.data() + 50 * width, 100);
        a.append_rows(data.data() + 50 * width, 100, nullptr, &p);
        a.append_rows(data.data() + 150 * width, 450, nullptr, nullptr);
        CHECK(read_all<double>(a.dataset(), H5::PredType::NATIVE_DOUBLE) == data);
    }
    SECTION("chunks encoded for another layout") {
        Appendable a(g, "t", H5::PredType::NATIVE_DOUBLE, {width}, 100, true);
        Appendable unshuffled(g, "u", H5::PredType::NATIVE_DOUBLE, {width}, 100, false);
        Appendable longer(g, "v", H5::PredType::NATIVE_DOUBLE, {width}, 200, true);
        const PackedTable p1 = pack_rows(unshuffled.codec(), other.data(), 200);
        const PackedTable p2 = pack_rows(longer.codec(), other.data(), 200);
        PackedTable p3 = pack_rows(a.codec(), other.data(), 200);
        p3.level = 6; // said to be deflated at another level than the dataset's
        a.append_rows(data.data(), 200, nullptr, &p1);
        a.append_rows(data.data() + 200 * width, 200, nullptr, &p2);
        a.append_rows(data.data() + 400 * width, 200, nullptr, &p3);
        CHECK(read_all<double>(a.dataset(), H5::PredType::NATIVE_DOUBLE) == data);
    }
    SECTION("a packed table with a chunk missing") {
        Appendable a(g, "t", H5::PredType::NATIVE_DOUBLE, {width}, 100, true);
        PackedTable p = pack_rows(a.codec(), other.data(), 600);
        p.chunks.pop_back();
        a.append_rows(data.data(), 600, nullptr, &p);
        CHECK(read_all<double>(a.dataset(), H5::PredType::NATIVE_DOUBLE) == data);
    }
    SECTION("a dataset whose filters chokepoint does not encode (fletcher32)") {
        hsize_t dims[2] = {0, width}, maxdims[2] = {H5S_UNLIMITED, width}, chunk[2] = {100, width};
        H5::DataSpace space(2, dims, maxdims);
        H5::DSetCreatPropList pl;
        pl.setChunk(2, chunk);
        pl.setDeflate(1);
        pl.setFletcher32();
        g.createDataSet("x", H5::PredType::NATIVE_DOUBLE, space, pl);
        auto a = Appendable::open(g, "x", H5::PredType::NATIVE_DOUBLE);
        CHECK_FALSE(a.codec().ok);
        Appendable like(g, "y", H5::PredType::NATIVE_DOUBLE, {width}, 100, false);
        const PackedTable p = pack_rows(like.codec(), other.data(), 600);
        a.append_rows(data.data(), 600, nullptr, &p);
        CHECK(read_all<double>(a.dataset(), H5::PredType::NATIVE_DOUBLE) == data);
    }
}

TEST_CASE("a reopened dataset (a resumed run) takes packed chunks after its rows", "[chunk_scan]") {
    const std::size_t width = 3;
    const auto data = table<double>(1000, width, 11);
    const auto path = tmp_file("chunk_pack_resume.h5");
    {
        H5::H5File f(path, H5F_ACC_TRUNC);
        H5::Group g = f.openGroup("/");
        Appendable a(g, "t", H5::PredType::NATIVE_DOUBLE, {width}, 250, true);
        a.append(data.data(), 500);
    }
    H5::H5File f(path, H5F_ACC_RDWR);
    H5::Group g = f.openGroup("/");
    auto a = Appendable::open(g, "t", H5::PredType::NATIVE_DOUBLE);
    REQUIRE(a.rows() == 500);
    REQUIRE(a.codec().ok);
    std::vector<double> other(500 * width, 7.0);
    const PackedTable p = pack_rows(a.codec(), other.data(), 500);
    a.append_rows(data.data() + 500 * width, 500, nullptr, &p);
    auto got = read_all<double>(a.dataset(), H5::PredType::NATIVE_DOUBLE);
    CHECK(std::equal(data.begin(), data.begin() + 500 * width, got.begin()));
    CHECK(std::all_of(got.begin() + 500 * width, got.end(), [](double v) { return v == 7.0; }));
}

TEST_CASE("a table whose block is over 1 MiB gets chunks that divide the block", "[chunk_scan]") {
    H5::H5File f(tmp_file("chunk_pack_divide.h5"), H5F_ACC_TRUNC);
    H5::Group g = f.openGroup("/");
    auto rows_of = [](Appendable &a) { return a.codec().chunk_rows; };
    // 22 demands x 60 months of floats: 5,280 bytes a row, 198 rows to 1 MiB; blocks of 250
    // rows get chunks of 125 (not 198, which would leave every later block mid-chunk).
    Appendable a(g, "a", H5::PredType::NATIVE_FLOAT, {22, 60}, 250, false);
    CHECK(rows_of(a) == 125);
    // Blocks that fit in 1 MiB are one chunk each.
    Appendable b(g, "b", H5::PredType::NATIVE_FLOAT, {22, 36}, 250, false);
    CHECK(rows_of(b) == 250);
    // No divisor of a prime block size within half the cap: chunks at the cap.
    Appendable c(g, "c", H5::PredType::NATIVE_FLOAT, {22, 60}, 251, false);
    CHECK(rows_of(c) == 198);
    // Blocks of 1,000 rows: 125 again (8 chunks a block).
    Appendable d(g, "d", H5::PredType::NATIVE_FLOAT, {22, 60}, 1000, false);
    CHECK(rows_of(d) == 125);
    // And a run of such blocks is stored from packed chunks, block after block.
    const std::size_t width = 22 * 60;
    const auto data = table<float>(600, width, 12);
    std::size_t stored = 0;
    for (std::size_t at = 0; at < 600; at += 250) {
        const std::size_t r = std::min<std::size_t>(250, 600 - at);
        const PackedTable p = pack_rows(a.codec(), data.data() + at * width, r);
        stored += a.append_rows(data.data() + at * width, r, nullptr, &p);
    }
    CHECK(stored == 5); // 2 + 2 + 1 chunks
    CHECK(read_all<float>(a.dataset(), H5::PredType::NATIVE_FLOAT) == data);
}
