// Reading a per-trial table back, row by row, with its chunks inflated on several threads.
//
// The summary at the end of a run reads the per-trial tables (shortfall, monthly shortfall)
// back in passes (stats/stats.hpp, exact_quantiles). Through H5Dread, HDF5 inflates every chunk
// on the calling thread: that serial step was most of the summary's time, and the summary is
// serial time at the end of every run. scan_rows reads each chunk's stored bytes (H5Dread_chunk,
// serial: the HDF5 library is not thread-safe) and undoes the writer's filters (deflate, then the
// byte shuffle, with zlib) for a batch of chunks in parallel; the rows are then handed on in
// order. The values are the stored ones, bit for bit, whichever way they are read.
#pragma once

#include <H5Cpp.h>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace chokepoint {

/// Calls fn(row) for rows [0, n) of `ds` in order, each row's `width` values as doubles. `ds` is
/// chunked along its first dimension (the trial), each chunk holding whole rows, of a float or
/// double type. Chunks with filters other than shuffle and deflate, a dataset laid out
/// otherwise, and a table of fewer than `min_table_bytes` stored values (HDF5's chunk cache may
/// still hold it) are read through H5Dread instead (the same values). `threads` > 1 inflates up
/// to 2 x threads chunks at a time in parallel (at most the machine's cores).
void scan_rows(H5::DataSet &ds, std::uint64_t n, std::uint64_t width, int threads,
               const std::function<void(const double *)> &fn,
               std::size_t min_table_bytes = std::size_t(4) << 20);

/// As scan_rows, a block of consecutive rows at a time: fn(first, rows) with the rows' values one
/// row after another (rows x width doubles), blocks in order, each row in exactly one. The
/// blocks are the decoder's own buffers (a batch of chunks, or a slab read through H5Dread),
/// handed on without copying; they are valid during the call only.
void scan_blocks(H5::DataSet &ds, std::uint64_t n, std::uint64_t width, int threads,
                 const std::function<void(const double *, std::size_t)> &fn,
                 std::size_t min_table_bytes = std::size_t(4) << 20);

namespace io_detail {
/// Whether scan_rows would read `ds` chunk by chunk (its layout, type and filters are ones it
/// decodes itself); for tests.
bool chunk_scan_applies(H5::DataSet &ds, std::uint64_t width);
} // namespace io_detail

} // namespace chokepoint
