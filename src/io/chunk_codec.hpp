// The stored form of a per-trial table's chunks, done by chokepoint itself rather than by HDF5's
// filter pipeline: the byte shuffle and deflate, the two filters the writer uses (h5util.hpp,
// Appendable). The summary decodes chunks read with H5Dread_chunk on several threads
// (chunk_scan.hpp); the pipeline encodes a block's chunks in its parallel stage, and the writer
// stage stores them with H5Dwrite_chunk (output.hpp, BlockPacker). Both give the chunk bytes
// HDF5's own filters give, so a file reads the same whichever way its chunks were written.
#pragma once

#include "stats/block.hpp"

#include <H5Cpp.h>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace chokepoint::io_detail {

/// How a dataset's chunks are stored, when chokepoint can encode and decode them itself: chunked
/// along the first dimension (the trial), every chunk holding whole rows, a native numeric type,
/// the default fill value, partial edge chunks filtered (HDF5's default), and a filter pipeline of
/// at most the byte shuffle followed by deflate.
struct ChunkCodec {
    bool ok = false;
    int rank = 0;
    hsize_t chunk_rows = 0;
    std::size_t row_values = 0;             // values in a row (the product of the inner dims)
    std::size_t elem = 0;                   // bytes per value
    bool floating = false;                  // a native float or double
    int shuffle_pos = -1, deflate_pos = -1; // places in the filter pipeline (-1: absent)
    unsigned level = 0;                     // deflate's level

    std::size_t chunk_values() const { return static_cast<std::size_t>(chunk_rows) * row_values; }
    std::size_t chunk_bytes() const { return chunk_values() * elem; }
    /// An empty packed table stamped with this encoding.
    PackedTable packed_table() const {
        PackedTable p;
        p.chunk_rows = chunk_rows;
        p.row_values = row_values;
        p.elem = elem;
        p.shuffle_pos = shuffle_pos;
        p.deflate_pos = deflate_pos;
        p.level = level;
        return p;
    }
    /// Whether `p` is whole (a chunk per chunk_rows of its rows) and was encoded as this codec
    /// stores its chunks.
    bool encoded(const PackedTable &p) const {
        return ok && p.chunk_rows == chunk_rows && p.row_values == row_values && p.elem == elem &&
               p.shuffle_pos == shuffle_pos && p.deflate_pos == deflate_pos && p.level == level &&
               p.chunks.size() == (p.rows + chunk_rows - 1) / chunk_rows;
    }
};

/// The codec of `ds` (ok = false when chokepoint cannot store or read its chunks itself).
ChunkCodec codec_of(H5::DataSet &ds);

/// Undoes the filters of one stored chunk (`raw`, with the filter mask H5Dread_chunk gave: a set
/// bit is a filter that was skipped for it) into chunk_values() doubles at `out` (a floating
/// codec only). False when the bytes do not decode to a whole chunk.
bool decode_chunk(const ChunkCodec &c, const std::vector<unsigned char> &raw, std::uint32_t mask,
                  std::vector<unsigned char> &inflated, std::vector<unsigned char> &unshuffled,
                  double *out);

/// Encodes `rows` rows (at most chunk_rows, native bytes at `data`) as one stored chunk into
/// `out`, as HDF5's filters would with the filter mask 0: a short chunk (the table's last) is
/// padded with zero bytes to a whole chunk, as HDF5 fills the unwritten part of a chunk.
void encode_chunk(const ChunkCodec &c, const void *data, std::size_t rows,
                  std::vector<unsigned char> &scratch, std::vector<unsigned char> &out);

} // namespace chokepoint::io_detail
