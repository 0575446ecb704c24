// HDF5 helpers shared by the results writer (output.cpp) and reader (reader.cpp): typed
// attributes, string tables, dimension scales, appendable datasets, and the facts the integrity
// digest of a checkpoint's /state covers. Internal to io/.
#pragma once

#include "core/sha256.hpp"
#include "io/chunk_codec.hpp"

#include <H5Cpp.h>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <hdf5_hl.h>
#include <string>
#include <system_error>
#include <vector>

namespace chokepoint::io_detail {

template <class T> const H5::PredType &h5type();
template <> inline const H5::PredType &h5type<double>() {
    return H5::PredType::NATIVE_DOUBLE;
}
template <> inline const H5::PredType &h5type<std::int32_t>() {
    return H5::PredType::NATIVE_INT32;
}
template <> inline const H5::PredType &h5type<std::uint64_t>() {
    return H5::PredType::NATIVE_UINT64;
}

inline const H5::StrType &vlen_str() {
    static const H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
    return t;
}

inline void drop_attr(H5::H5Object &obj, const char *name) {
    if (obj.attrExists(name))
        obj.removeAttr(name);
}

inline void attr_string(H5::H5Object &obj, const char *name, const std::string &value) {
    drop_attr(obj, name);
    H5::DataSpace scalar(H5S_SCALAR);
    auto a = obj.createAttribute(name, vlen_str(), scalar);
    a.write(vlen_str(), value);
}

template <class T> void attr_scalar(H5::H5Object &obj, const char *name, T value) {
    drop_attr(obj, name);
    H5::DataSpace scalar(H5S_SCALAR);
    auto a = obj.createAttribute(name, h5type<T>(), scalar);
    a.write(h5type<T>(), &value);
}

inline void write_strings(H5::Group &g, const char *name, const std::vector<std::string> &values) {
    const hsize_t n = values.size();
    H5::DataSpace space(1, &n);
    auto ds = g.createDataSet(name, vlen_str(), space);
    std::vector<const char *> ptrs;
    for (const auto &v : values)
        ptrs.push_back(v.c_str());
    if (n == 0)
        return;
    // The conversion to the file's variable-length type goes through a buffer that HDF5 zeroes
    // on every write (1 MiB by default); a string table of a few names needs a few bytes per
    // element. The written data are the same.
    H5::DSetMemXferPropList xfer;
    xfer.setBuffer(std::max<std::size_t>(64 * n, 4096), nullptr, nullptr);
    ds.write(ptrs.data(), vlen_str(), H5::DataSpace::ALL, H5::DataSpace::ALL, xfer);
}

template <class T>
inline void write_array(H5::Group &g, const char *name, const std::vector<T> &values,
                        std::vector<hsize_t> dims = {}) {
    if (dims.empty())
        dims.push_back(values.size());
    H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
    auto ds = g.createDataSet(name, h5type<T>(), space);
    if (!values.empty())
        ds.write(values.data(), h5type<T>());
}

/// Makes `ds` the dimension scale (coordinate) named `name`: netCDF-4 readers (xarray with
/// h5netcdf) then see named dimensions.
inline void make_scale(H5::DataSet &ds, const std::string &name) {
    if (H5DSset_scale(ds.getId(), name.c_str()) < 0)
        throw std::runtime_error("cannot make dimension scale " + name);
}

/// Attaches the scales named in `dims` (datasets of `g`) to the dimensions of dataset `name`.
inline void label(H5::Group &g, const std::string &name, const std::vector<std::string> &dims) {
    auto ds = g.openDataSet(name);
    const int rank = ds.getSpace().getSimpleExtentNdims();
    if (rank != static_cast<int>(dims.size()))
        throw std::logic_error("dataset " + name + " has rank " + std::to_string(rank) +
                               ", labels " + std::to_string(dims.size()));
    for (int i = 0; i < rank; ++i) {
        auto scale = g.openDataSet(dims[static_cast<std::size_t>(i)]);
        if (H5DSattach_scale(ds.getId(), scale.getId(), static_cast<unsigned>(i)) < 0)
            throw std::runtime_error("cannot attach dimension " +
                                     dims[static_cast<std::size_t>(i)] + " to " + name);
    }
}

/// The ids of a list of model entities.
template <class T> std::vector<std::string> ids(const std::vector<T> &items) {
    std::vector<std::string> out;
    for (const auto &x : items)
        out.push_back(x.id);
    return out;
}

/// A coordinate of names (ids) as a dimension scale of group `g`.
inline void name_scale(H5::Group &g, const char *dim, const std::vector<std::string> &values) {
    write_strings(g, dim, values);
    auto ds = g.openDataSet(dim);
    make_scale(ds, dim);
}

/// Coordinates of a group: index (0..n-1) scales and name scales.
inline void index_scale(H5::Group &g, const std::string &name, hsize_t n) {
    std::vector<std::int32_t> v(static_cast<std::size_t>(n));
    for (hsize_t i = 0; i < n; ++i)
        v[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i);
    H5::DataSpace space(1, &n);
    auto ds = g.createDataSet(name, H5::PredType::NATIVE_INT32, space);
    if (n)
        ds.write(v.data(), H5::PredType::NATIVE_INT32);
    make_scale(ds, name);
}

/// A dataset extendible along its first dimension (the trial), chunked and compressed.
/// `shuffle` adds HDF5's byte shuffle before deflate: it helps dense values (sampled demands,
/// trial numbers, counters) and hurts columns that are mostly zero, such as shortfalls, whose
/// zeros deflate better unshuffled (the monthly shortfall of the default study: 11.5 to 1
/// against 8.7 to 1, and faster to compress and to read back).
class Appendable {
public:
    Appendable() = default;
    Appendable(H5::Group &g, const char *name, const H5::PredType &type, std::vector<hsize_t> inner,
               hsize_t chunk_rows, bool shuffle = true)
        : type_(&type), inner_(std::move(inner)) {
        std::vector<hsize_t> dims{0}, maxdims{H5S_UNLIMITED}, chunk{chunk_rows};
        hsize_t row_elems = 1;
        for (hsize_t d : inner_) {
            dims.push_back(d);
            // A dimension of size 0 (a model without events, say) cannot be chunked as fixed.
            maxdims.push_back(d ? d : H5S_UNLIMITED);
            chunk.push_back(std::max<hsize_t>(1, d));
            row_elems *= std::max<hsize_t>(1, d);
        }
        // Keep chunks near 1 MiB or below whatever the inner size. `chunk_rows` is the rows a
        // block appends at a time: a chunk of fewer rows divides it where a divisor at least
        // half the cap exists, so that every block starts a chunk and its chunks can be stored
        // as the pipeline packed them (append_rows). Without one the chunk is the cap, and only
        // the blocks that happen to start a chunk are stored so.
        const hsize_t bytes_per_row = row_elems * type.getSize();
        const hsize_t cap = std::max<hsize_t>(1, (1u << 20) / std::max<hsize_t>(1, bytes_per_row));
        chunk[0] = std::max<hsize_t>(1, std::min<hsize_t>(chunk_rows, cap));
        if (chunk_rows > cap)
            for (hsize_t r = cap; r >= std::max<hsize_t>(1, cap / 2); --r)
                if (chunk_rows % r == 0) {
                    chunk[0] = r;
                    break;
                }
        H5::DataSpace space(static_cast<int>(dims.size()), dims.data(), maxdims.data());
        H5::DSetCreatPropList plist;
        plist.setChunk(static_cast<int>(chunk.size()), chunk.data());
        if (shuffle)
            plist.setShuffle();
        plist.setDeflate(1);
        ds_ = g.createDataSet(name, type, space, plist);
        find_codec();
    }

    /// Reopens an existing dataset (a resumed checkpoint) to append after its rows.
    static Appendable open(H5::Group &g, const char *name, const H5::PredType &type) {
        Appendable a;
        a.type_ = &type;
        a.ds_ = g.openDataSet(name);
        const auto space = a.ds_.getSpace();
        std::vector<hsize_t> dims(static_cast<std::size_t>(space.getSimpleExtentNdims()));
        space.getSimpleExtentDims(dims.data());
        a.rows_ = dims.at(0);
        a.inner_.assign(dims.begin() + 1, dims.end());
        a.find_codec();
        return a;
    }
    hsize_t rows() const { return rows_; }

    /// Appends `rows` rows from `data`; feeds their bytes, as written, to `digest` (if any).
    template <class T> void append(const T *data, hsize_t rows, Sha256 *digest = nullptr) {
        append_rows(data, rows, digest);
    }

    /// Appends `rows` rows of the dataset's memory type from `data`, as append() does. When
    /// `packed` holds those rows already encoded as this dataset stores them, and the first of
    /// them starts a chunk, the chunks are stored as they are (H5Dwrite_chunk): the same file
    /// contents, without deflating on this thread. Returns the chunks so stored (0: the rows
    /// were written).
    std::size_t append_rows(const void *data, hsize_t rows, Sha256 *digest,
                            const PackedTable *packed = nullptr) {
        if (rows == 0)
            return 0;
        std::vector<hsize_t> newdims{rows_ + rows}, start{rows_}, count{rows};
        for (hsize_t d : inner_) {
            newdims.push_back(d);
            start.push_back(0);
            count.push_back(d);
        }
        ds_.extend(newdims.data());
        const bool stored = packed && store_packed(*packed, start, rows);
        if (!stored) {
            H5::DataSpace fspace = ds_.getSpace();
            fspace.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
            H5::DataSpace mspace(static_cast<int>(count.size()), count.data());
            ds_.write(data, *type_, mspace, fspace);
        }
        rows_ += rows;
        if (digest) {
            hsize_t elems = rows;
            for (hsize_t d : inner_)
                elems *= d;
            digest->update(data, static_cast<std::size_t>(elems) * type_->getSize());
        }
        return stored ? packed->chunks.size() : 0;
    }

    /// How this dataset stores its chunks (ok = false: chokepoint cannot encode them itself).
    const ChunkCodec &codec() const { return codec_; }

    H5::DataSet &dataset() { return ds_; }
    const std::vector<hsize_t> &inner() const { return inner_; }

private:
    void find_codec() {
        codec_ = codec_of(ds_);
        // The rows' bytes are stored as they are: the memory type must be the file's.
        const H5::DataType stored = ds_.getDataType();
        if (!(stored == *type_))
            codec_.ok = false;
    }

    /// Stores `packed` as the chunks from row start[0] on; false (nothing written) when they are
    /// not this dataset's chunks there.
    bool store_packed(const PackedTable &p, std::vector<hsize_t> offset, hsize_t rows) {
        const ChunkCodec &c = codec_;
        if (!c.encoded(p) || p.rows != rows || offset[0] % c.chunk_rows != 0)
            return false;
        const hsize_t first = offset[0];
        for (std::size_t i = 0; i < p.chunks.size(); ++i) {
            offset[0] = first + i * c.chunk_rows;
            if (H5Dwrite_chunk(ds_.getId(), H5P_DEFAULT, 0, offset.data(), p.chunks[i].size(),
                               p.chunks[i].data()) < 0)
                throw H5::DataSetIException("Appendable::append_rows", "H5Dwrite_chunk failed");
        }
        return true;
    }

    H5::DataSet ds_;
    const H5::PredType *type_ = nullptr;
    std::vector<hsize_t> inner_;
    hsize_t rows_ = 0;
    ChunkCodec codec_;
};

inline bool fs_exists(const std::string &path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
}

template <> inline const H5::PredType &h5type<float>() {
    return H5::PredType::NATIVE_FLOAT;
}

inline std::string utc_now() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

inline bool has_attr(const H5::H5Object &o, const char *name) {
    return o.attrExists(name);
}

inline std::string read_attr_string(const H5::H5Object &o, const char *name) {
    auto a = o.openAttribute(name);
    std::string v;
    a.read(a.getStrType(), v);
    return v;
}

template <class T> T read_attr_scalar(const H5::H5Object &o, const char *name) {
    auto a = o.openAttribute(name);
    T v{};
    a.read(h5type<T>(), &v);
    return v;
}

inline std::vector<std::string> read_strings(const H5::Group &g, const char *name) {
    auto ds = g.openDataSet(name);
    const auto n = static_cast<std::size_t>(ds.getSpace().getSimpleExtentNpoints());
    std::vector<char *> ptrs(n, nullptr);
    if (n)
        ds.read(ptrs.data(), vlen_str());
    std::vector<std::string> out;
    for (auto *p : ptrs)
        out.emplace_back(p ? p : "");
    if (n) {
        auto space = ds.getSpace();
        H5Dvlen_reclaim(vlen_str().getId(), space.getId(), H5P_DEFAULT, ptrs.data());
    }
    return out;
}

/// Parses 64 hex digits into `out`; false when `h` is not that.
inline bool unhex(const std::string &h, std::array<std::uint8_t, 32> &out) {
    if (h.size() != 64)
        return false;
    for (std::size_t i = 0; i < 32; ++i) {
        unsigned v = 0;
        for (std::size_t k = 0; k < 2; ++k) {
            const char c = h[2 * i + k];
            const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return false;
            v = v * 16 + static_cast<unsigned>(d);
        }
        out[i] = static_cast<std::uint8_t>(v);
    }
    return true;
}

/// What the integrity digest of /state covers (docs/output-format.md): the run's layout and
/// counters (root attributes), the digest chain of the per-trial data, the datasets it covers,
/// and every statistics word.
struct StateFacts {
    std::uint64_t seed = 0, block_size = 0, trials_planned = 0, blocks_total = 0, first_block = 0,
                  end_block = 0, next_block = 0, trials = 0;
    std::string config_sha256, trials_sha256;
    std::vector<std::string> ids, layouts; // per scenario: id, "dataset,dataset,..."
    std::vector<std::vector<std::uint64_t>> words;
};

/// The integrity digest of /state over `f` (docs/output-format.md, "/state").
std::string state_digest(const StateFacts &f);
/// Reads the layout and counter attributes of a run's root group into `f`.
void read_layout_attrs(const H5::H5Object &root, StateFacts &f);

} // namespace chokepoint::io_detail
