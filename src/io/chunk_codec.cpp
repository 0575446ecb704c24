#include "io/chunk_codec.hpp"

#include <cstring>
#include <stdexcept>
#include <zlib.h>

namespace chokepoint::io_detail {

namespace {
struct Handle {
    hid_t id;
    herr_t (*close)(hid_t);
    ~Handle() {
        if (id >= 0)
            close(id);
    }
};
} // namespace

ChunkCodec codec_of(H5::DataSet &ds) {
    ChunkCodec c;
    const hid_t id = ds.getId();
    Handle dcpl{H5Dget_create_plist(id), H5Pclose};
    Handle space{H5Dget_space(id), H5Sclose};
    Handle type{H5Dget_type(id), H5Tclose};
    if (dcpl.id < 0 || space.id < 0 || type.id < 0 || H5Pget_layout(dcpl.id) != H5D_CHUNKED)
        return c;
    const int rank = H5Sget_simple_extent_ndims(space.id);
    if (rank < 1 || rank > 16)
        return c;
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank)), chunk(dims.size());
    if (H5Sget_simple_extent_dims(space.id, dims.data(), nullptr) != rank ||
        H5Pget_chunk(dcpl.id, rank, chunk.data()) != rank || chunk[0] == 0)
        return c;
    // Every chunk must hold whole rows.
    std::size_t inner = 1;
    for (std::size_t i = 1; i < dims.size(); ++i) {
        if (chunk[i] != dims[i])
            return c;
        inner *= static_cast<std::size_t>(dims[i]);
    }
    if (H5Tequal(type.id, H5T_NATIVE_DOUBLE) > 0 || H5Tequal(type.id, H5T_NATIVE_FLOAT) > 0)
        c.floating = true;
    else if (H5Tget_class(type.id) != H5T_INTEGER)
        return c;
    c.elem = H5Tget_size(type.id);
    if (c.elem == 0)
        return c;
    // HDF5 pads a partial chunk with the default fill value (zeros, as encode_chunk does), and
    // filters partial edge chunks like any other.
    H5D_fill_value_t fill = H5D_FILL_VALUE_ERROR;
    unsigned opts = 0;
    if (H5Pfill_value_defined(dcpl.id, &fill) < 0 || fill != H5D_FILL_VALUE_DEFAULT ||
        H5Pget_chunk_opts(dcpl.id, &opts) < 0 || opts != 0)
        return c;
    // The writer's pipeline: the byte shuffle (optional), then deflate (optional); nothing else.
    const int nf = H5Pget_nfilters(dcpl.id);
    if (nf < 0)
        return c;
    for (int i = 0; i < nf; ++i) {
        unsigned flags = 0, config = 0, cd[4] = {0, 0, 0, 0};
        std::size_t nelmts = 4;
        const H5Z_filter_t f = H5Pget_filter2(dcpl.id, static_cast<unsigned>(i), &flags, &nelmts,
                                              cd, 0, nullptr, &config);
        if (f == H5Z_FILTER_SHUFFLE && c.shuffle_pos < 0 && c.deflate_pos < 0) {
            c.shuffle_pos = i;
        } else if (f == H5Z_FILTER_DEFLATE && c.deflate_pos < 0 && nelmts >= 1 && cd[0] <= 9) {
            c.deflate_pos = i;
            c.level = cd[0];
        } else {
            return c;
        }
    }
    c.rank = rank;
    c.chunk_rows = chunk[0];
    c.row_values = inner;
    c.ok = c.chunk_values() > 0;
    return c;
}

bool decode_chunk(const ChunkCodec &c, const std::vector<unsigned char> &raw, std::uint32_t mask,
                  std::vector<unsigned char> &inflated, std::vector<unsigned char> &unshuffled,
                  double *out) {
    if (!c.floating)
        return false;
    const std::size_t bytes = c.chunk_bytes();
    const unsigned char *cur = raw.data();
    std::size_t size = raw.size();
    if (c.deflate_pos >= 0 && !(mask & (1u << c.deflate_pos))) {
        inflated.resize(bytes);
        uLongf got = static_cast<uLongf>(bytes);
        if (uncompress(inflated.data(), &got, cur, static_cast<uLong>(size)) != Z_OK)
            return false;
        cur = inflated.data();
        size = got;
    }
    if (size != bytes)
        return false;
    if (c.shuffle_pos >= 0 && !(mask & (1u << c.shuffle_pos))) {
        // HDF5's shuffle stores byte b of every value together: value i's byte b is at b N + i.
        unshuffled.resize(bytes);
        const std::size_t N = c.chunk_values();
        for (std::size_t b = 0; b < c.elem; ++b) {
            const unsigned char *src = cur + b * N;
            for (std::size_t i = 0; i < N; ++i)
                unshuffled[i * c.elem + b] = src[i];
        }
        cur = unshuffled.data();
    }
    if (c.elem == 8) {
        std::memcpy(out, cur, bytes);
    } else {
        for (std::size_t i = 0; i < c.chunk_values(); ++i) {
            float v;
            std::memcpy(&v, cur + 4 * i, 4);
            out[i] = v;
        }
    }
    return true;
}

void encode_chunk(const ChunkCodec &c, const void *data, std::size_t rows,
                  std::vector<unsigned char> &scratch, std::vector<unsigned char> &out) {
    if (!c.ok || rows > c.chunk_rows)
        throw std::logic_error("encode_chunk: not a chunk of this codec");
    const std::size_t bytes = c.chunk_bytes(), given = rows * c.row_values * c.elem;
    const auto *src = static_cast<const unsigned char *>(data);
    // The chunk as HDF5 holds it before its filters: the rows, then zeros.
    const unsigned char *cur = src;
    if (given < bytes || c.shuffle_pos >= 0) {
        scratch.resize(bytes);
        if (c.shuffle_pos >= 0 && c.elem > 1) {
            // Byte b of value i goes to b N + i (H5Z_filter_shuffle); the padding's zeros too.
            const std::size_t N = c.chunk_values(), n = rows * c.row_values;
            for (std::size_t b = 0; b < c.elem; ++b) {
                unsigned char *dst = scratch.data() + b * N;
                for (std::size_t i = 0; i < n; ++i)
                    dst[i] = src[i * c.elem + b];
                std::memset(dst + n, 0, N - n);
            }
        } else {
            std::memcpy(scratch.data(), src, given);
            std::memset(scratch.data() + given, 0, bytes - given);
        }
        cur = scratch.data();
    }
    if (c.deflate_pos < 0) {
        out.assign(cur, cur + bytes);
        return;
    }
    // H5Z_filter_deflate: compress2 at the dataset's level into a buffer of compressBound bytes.
    uLongf size = compressBound(static_cast<uLong>(bytes));
    out.resize(static_cast<std::size_t>(size));
    if (compress2(out.data(), &size, cur, static_cast<uLong>(bytes), static_cast<int>(c.level)) !=
        Z_OK)
        throw std::runtime_error("encode_chunk: deflate failed");
    out.resize(static_cast<std::size_t>(size));
}

} // namespace chokepoint::io_detail
