#include "io/chunk_scan.hpp"

#include "io/chunk_codec.hpp"

#include <algorithm>
#include <optional>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <utility>
#include <vector>

namespace chokepoint {

namespace {

using io_detail::ChunkCodec;

/// The codec of `ds` when scan_rows decodes its chunks itself: rows of `width` floats or doubles.
ChunkCodec plan_of(H5::DataSet &ds, std::uint64_t width) {
    ChunkCodec c = io_detail::codec_of(ds);
    if (!c.floating || c.row_values != width)
        c.ok = false;
    return c;
}

} // namespace

namespace io_detail {
bool chunk_scan_applies(H5::DataSet &ds, std::uint64_t width) {
    return plan_of(ds, width).ok;
}
} // namespace io_detail

void scan_rows(H5::DataSet &ds, std::uint64_t n, std::uint64_t width, int threads,
               const std::function<void(const double *)> &fn, std::size_t min_table_bytes) {
    scan_blocks(
        ds, n, width, threads,
        [&](const double *first, std::size_t rows) {
            for (std::size_t r = 0; r < rows; ++r)
                fn(first + r * width);
        },
        min_table_bytes);
}

void scan_blocks(H5::DataSet &ds, std::uint64_t n, std::uint64_t width, int threads,
                 const std::function<void(const double *, std::size_t)> &fn,
                 std::size_t min_table_bytes) {
    if (n == 0)
        return;
    const int rank = ds.getSpace().getSimpleExtentNdims();
    std::vector<double> buf;
    // Rows [start, start + rows) through H5Dread (HDF5 inflates and converts), in slabs.
    auto read_rows = [&](hsize_t start, hsize_t rows) {
        const hsize_t slab = std::max<hsize_t>(1, (hsize_t(1) << 16) / std::max<hsize_t>(1, width));
        std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
        ds.getSpace().getSimpleExtentDims(dims.data());
        for (hsize_t s = start; s < start + rows; s += slab) {
            const hsize_t r = std::min(slab, start + rows - s);
            buf.resize(static_cast<std::size_t>(r * width));
            std::vector<hsize_t> off(static_cast<std::size_t>(rank), 0), cnt = dims;
            off[0] = s;
            cnt[0] = r;
            H5::DataSpace fs = ds.getSpace();
            fs.selectHyperslab(H5S_SELECT_SET, cnt.data(), off.data());
            H5::DataSpace ms(rank, cnt.data());
            ds.read(buf.data(), H5::PredType::NATIVE_DOUBLE, ms, fs);
            fn(buf.data(), static_cast<std::size_t>(r));
        }
    };
    const ChunkCodec p = plan_of(ds, width);
    // A small table goes through H5Dread: it may still sit in HDF5's chunk cache as the writer
    // left it, while H5Dread_chunk would have the cache compress and write it first, then
    // inflate it again.
    if (!p.ok || static_cast<double>(n) * static_cast<double>(width * p.elem) <
                     static_cast<double>(min_table_bytes)) {
        read_rows(0, n);
        return;
    }
    threads = std::clamp(threads, 1, tbb::info::default_concurrency());
    // A batch of chunks: two per thread, at most 64 MiB of doubles (at least one chunk).
    const std::size_t chunk_doubles = p.chunk_values();
    const hsize_t cr = p.chunk_rows, chunks = (n + cr - 1) / cr;
    const std::size_t batch = std::max<std::size_t>(
        1, std::min<std::size_t>(2 * static_cast<std::size_t>(threads),
                                 (std::size_t(64) << 20) / (chunk_doubles * sizeof(double))));
    // Threads only for a table worth them (a batch of at least 1 MiB of values): starting the
    // arena's workers costs more than inflating a small table (the shortfall: D values a row).
    std::optional<tbb::task_arena> arena;
    if (threads > 1 && chunks > 1 &&
        static_cast<double>(std::min<hsize_t>(batch, chunks)) *
                static_cast<double>(chunk_doubles * p.elem) >=
            static_cast<double>(std::size_t(1) << 20))
        arena.emplace(threads);
    std::vector<std::vector<unsigned char>> raw(batch);
    std::vector<std::uint32_t> mask(batch, 0);
    std::vector<char> good(batch, 0);
    std::vector<double> out;
    tbb::enumerable_thread_specific<
        std::pair<std::vector<unsigned char>, std::vector<unsigned char>>>
        scratch;
    const hid_t id = ds.getId();
    std::vector<hsize_t> offset(static_cast<std::size_t>(p.rank), 0);
    for (hsize_t c0 = 0; c0 < chunks; c0 += batch) {
        const auto nb = static_cast<std::size_t>(std::min<hsize_t>(batch, chunks - c0));
        const hsize_t first = c0 * cr, rows = std::min<hsize_t>(nb * cr, n - first);
        // The stored bytes, on this thread (HDF5 is not thread-safe).
        bool all = true;
        H5E_BEGIN_TRY {
            for (std::size_t i = 0; i < nb && all; ++i) {
                offset[0] = (c0 + i) * cr;
                hsize_t size = 0;
                all = H5Dget_chunk_storage_size(id, offset.data(), &size) >= 0 && size > 0;
                if (all) {
                    raw[i].resize(static_cast<std::size_t>(size));
                    all =
                        H5Dread_chunk(id, H5P_DEFAULT, offset.data(), &mask[i], raw[i].data()) >= 0;
                }
            }
        }
        H5E_END_TRY;
        if (all) {
            out.resize(nb * chunk_doubles);
            auto one = [&](std::size_t i) {
                auto &[inflated, unshuffled] = scratch.local();
                good[i] = io_detail::decode_chunk(p, raw[i], mask[i], inflated, unshuffled,
                                                  &out[i * chunk_doubles]);
            };
            if (arena && nb > 1)
                arena->execute([&] { tbb::parallel_for(std::size_t(0), nb, one); });
            else
                for (std::size_t i = 0; i < nb; ++i)
                    one(i);
            all = std::all_of(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(nb),
                              [](char g) { return g != 0; });
        }
        if (!all) {
            // A chunk not stored (never written) or not decodable here: HDF5 reads these rows.
            read_rows(first, rows);
            continue;
        }
        fn(out.data(), static_cast<std::size_t>(rows)); // the batch's chunks hold whole rows
    }
}

} // namespace chokepoint
