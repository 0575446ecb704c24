// Reading results files, checkpoints and shards: the seal of checkpoints and shards, the one
// reader with the format-version check (read_stored_run), the model a stored run was made from,
// and the per-trial rows (TrialReader). Layout: docs/output-format.md.
#include "io/output.hpp"

#include "io/h5util.hpp"

#include "config/config.hpp"
#include "core/random.hpp"
#include "core/sha256.hpp"
#include "model/inputs.hpp"
#include "stats/sensitivity.hpp"
#include "version.hpp"
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <hdf5_hl.h>
#include <iostream>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <sys/stat.h>
#include <system_error>
#include <tuple>
#include <unistd.h>

namespace chokepoint {

using namespace io_detail;

namespace {
constexpr std::string_view kSealTag = "\n#chokepoint-sha256:";
constexpr std::size_t kSealBytes = 20 + 64 + 1; // tag, hex digest, newline

/// SHA-256 of the first `n` bytes of the open file `fd`; false on a read error.
bool hash_prefix(int fd, std::uint64_t n, std::array<std::uint8_t, 32> &out) {
    Sha256 h;
    std::vector<char> buf(std::size_t(1) << 20);
    for (std::uint64_t at = 0; at < n;) {
        const ssize_t got = ::pread(
            fd, buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), n - at)),
            static_cast<off_t>(at));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        h.update(buf.data(), static_cast<std::size_t>(got));
        at += static_cast<std::uint64_t>(got);
    }
    out = h.digest();
    return true;
}

enum class Seal { None, Valid, Broken };

/// Whether the file ends with a seal (seal_file) and whether it matches the bytes before it.
Seal check_seal(const std::string &path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return Seal::None; // read_stored_run says why, when it opens the file
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(kSealBytes))
        return Seal::None;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    char tail[kSealBytes];
    if (::pread(fd, tail, kSealBytes, static_cast<off_t>(size - kSealBytes)) !=
        static_cast<ssize_t>(kSealBytes))
        return Seal::None;
    const std::string_view t(tail, kSealBytes);
    std::array<std::uint8_t, 32> want{}, got{};
    if (t.substr(0, kSealTag.size()) != kSealTag || t.back() != '\n' ||
        !unhex(std::string(t.substr(kSealTag.size(), 64)), want))
        return Seal::None;
    if (!hash_prefix(fd, size - kSealBytes, got))
        return Seal::Broken;
    return got == want ? Seal::Valid : Seal::Broken;
}
} // namespace

void seal_file(const std::string &path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(),
                                "cannot open '" + path + "' to seal it");
    auto fail = [&](const std::string &what) {
        const int err = errno;
        ::close(fd);
        throw std::system_error(err, std::generic_category(), what + " '" + path + "'");
    };
    struct stat st {};
    std::array<std::uint8_t, 32> digest{};
    if (::fstat(fd, &st) != 0 || !hash_prefix(fd, static_cast<std::uint64_t>(st.st_size), digest))
        fail("cannot read back");
    const std::string seal = std::string(kSealTag) + hex(digest) + "\n";
    for (std::size_t off = 0; off < seal.size();) {
        const ssize_t w = ::pwrite(fd, seal.data() + off, seal.size() - off,
                                   static_cast<off_t>(st.st_size) + static_cast<off_t>(off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail("cannot seal (write its digest at the end of)");
        off += static_cast<std::size_t>(w);
    }
    if (::fsync(fd) != 0 && errno != EINVAL)
        fail("cannot flush to disk");
    if (::close(fd) != 0)
        throw std::system_error(errno, std::generic_category(), "closing '" + path + "'");
}

void quiet_hdf5_errors() {
    H5::Exception::dontPrint();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

/// The line filter of QuietHdf5: drops lines that start "<Class>::~<Class> - ".
struct QuietHdf5::Filter : std::streambuf {
    std::streambuf *out;
    std::string held; // the start of a line that may still be a destructor's message
    enum { Start, Maybe, Pass, Drop } state = Start;
    explicit Filter(std::streambuf *o) : out(o) {}

    /// 2: `s` is a whole "<Word>::~<Word> - "; 1: a start of one; 0: neither.
    static int match(const std::string &s) {
        auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
        std::size_t i = 0;
        const std::size_t n = s.size();
        auto run = [&] { // at least one word character (a prefix may end inside it)
            const std::size_t b = i;
            while (i < n && word(s[i]))
                ++i;
            return i > b;
        };
        auto lit = [&](const char *l) { // a literal, or the end of s inside it
            for (; *l; ++l, ++i) {
                if (i == n)
                    return 1;
                if (s[i] != *l)
                    return 0;
            }
            return 2;
        };
        if (!run())
            return i == n ? 1 : 0;
        if (i == n)
            return 1;
        if (const int r = lit("::~"); r != 2)
            return r;
        if (!run())
            return i == n ? 1 : 0;
        if (i == n)
            return 1;
        const int r = lit(" - ");
        return r == 2 ? (i == n ? 2 : 0) : r;
    }
    void put(char c) {
        switch (state) {
        case Pass:
            out->sputc(c);
            if (c == '\n')
                state = Start;
            return;
        case Drop:
            if (c == '\n')
                state = Start;
            return;
        case Start:
        case Maybe:
            held += c;
            if (const int m = match(held); m > 0) {
                state = m == 2 ? Drop : Maybe;
                if (m == 2)
                    held.clear();
                return;
            }
            out->sputn(held.data(), static_cast<std::streamsize>(held.size()));
            held.clear();
            state = c == '\n' ? Start : Pass;
        }
    }
    int overflow(int c) override {
        if (c != traits_type::eof())
            put(static_cast<char>(c));
        return traits_type::not_eof(c);
    }
    std::streamsize xsputn(const char *s, std::streamsize n) override {
        for (std::streamsize i = 0; i < n; ++i)
            put(s[i]);
        return n;
    }
    int sync() override { return out->pubsync(); } // a held start stays held until its line ends
};

QuietHdf5::QuietHdf5() {
    quiet_hdf5_errors();
    saved_ = std::cerr.rdbuf();
    filter_ = std::make_unique<Filter>(saved_);
    std::cerr.rdbuf(filter_.get());
}

QuietHdf5::~QuietHdf5() {
    std::cerr.rdbuf(saved_);
    if (!filter_->held.empty()) // a line that looked like a destructor's but did not end
        saved_->sputn(filter_->held.data(), static_cast<std::streamsize>(filter_->held.size()));
    saved_->pubsync();
}

namespace {
/// Checks a checkpoint's or shard's /state against its integrity digests (docs/output-format.md)
/// and the per-trial data against their digest chain, block by block; throws InputError saying
/// the file is damaged, and how, at the first mismatch. Reads every per-trial row once.
void verify_state(H5::H5File &file, const H5::Group &root, const H5::Group &state,
                  const StoredRun &r, std::uint64_t max_bytes) {
    auto damaged = [&](const std::string &what) {
        throw InputError(std::string(r.complete ? "shard" : "checkpoint") + " '" + r.path +
                         "' is damaged: " + what);
    };
    for (const char *a : {"sha256", "trials_sha256", "trials_sha256_datasets"})
        if (!has_attr(state, a))
            damaged(std::string("its /state has no integrity digest ('") + a +
                    "'; written by chokepoint before format 1.2?)");
    if (!has_attr(root, "trials"))
        damaged("it has no 'trials' attribute");
    StateFacts f;
    read_layout_attrs(root, f);
    f.next_block = r.next_block;
    f.trials = read_attr_scalar<std::uint64_t>(root, "trials");
    f.trials_sha256 = read_attr_string(state, "trials_sha256");
    {
        std::stringstream ss(read_attr_string(state, "trials_sha256_datasets"));
        for (std::string item; std::getline(ss, item, ';');) {
            const auto colon = item.find(':');
            f.ids.push_back(item.substr(0, colon));
            f.layouts.push_back(colon == std::string::npos ? "" : item.substr(colon + 1));
        }
    }
    f.words = r.state;
    if (f.ids != r.scenarios || state_digest(f) != read_attr_string(state, "sha256"))
        damaged("its statistics state, counters or layout do not match their SHA-256 digest");
    // The blocks it says it holds, and the rows they make.
    const std::uint64_t bs = f.block_size;
    if (bs == 0 ||
        !(f.first_block <= f.next_block && f.next_block <= f.end_block &&
          f.end_block <= f.blocks_total) ||
        f.next_block - f.first_block > f.trials)
        damaged("its blocks [" + std::to_string(f.first_block) + ", " +
                std::to_string(f.end_block) + ") of " + std::to_string(f.blocks_total) +
                " do not contain its next block " + std::to_string(f.next_block));
    std::uint64_t expect = 0;
    std::vector<std::uint64_t> rows_of;
    for (std::uint64_t b = f.first_block; b < f.next_block; ++b) {
        if (b >= f.trials_planned / bs + (f.trials_planned % bs != 0))
            damaged("block " + std::to_string(b) + " lies beyond its " +
                    std::to_string(f.trials_planned) + " trials");
        rows_of.push_back(std::min(bs, f.trials_planned - b * bs));
        expect += rows_of.back();
    }
    if (expect != f.trials)
        damaged("it holds " + std::to_string(f.trials) + " trials, but blocks " +
                std::to_string(f.first_block) + " to " + std::to_string(f.next_block) + " make " +
                std::to_string(expect));
    // Every dataset the digest covers, in its order: present, with the rows it must have.
    struct Part {
        H5::DataSet ds;
        hid_t type = -1;
        std::size_t row_bytes = 0;
        bool per_block = false; // convergence: one row per block
    };
    std::vector<Part> parts;
    struct TypeCloser {
        std::vector<Part> &p;
        ~TypeCloser() {
            for (auto &x : p)
                if (x.type >= 0)
                    H5Tclose(x.type);
        }
    } closer{parts};
    for (std::size_t k = 0; k < f.ids.size(); ++k) {
        std::stringstream ss(f.layouts[k]);
        for (std::string d; std::getline(ss, d, ',');) {
            const std::string full = "/scenarios/" + f.ids[k] + "/" + d;
            if (H5Lexists(file.getId(), ("/scenarios/" + f.ids[k]).c_str(), H5P_DEFAULT) <= 0 ||
                H5Lexists(file.getId(), full.c_str(), H5P_DEFAULT) <= 0)
                damaged("dataset " + full + " is missing");
            Part p;
            p.ds = file.openDataSet(full);
            p.per_block = d.rfind("convergence/", 0) == 0;
            const auto space = p.ds.getSpace();
            std::vector<hsize_t> dims(static_cast<std::size_t>(space.getSimpleExtentNdims()));
            space.getSimpleExtentDims(dims.data());
            const std::uint64_t want = p.per_block ? f.next_block - f.first_block : f.trials;
            if (dims.empty() || dims[0] != want)
                damaged(
                    "dataset " + full + " has " +
                    (dims.empty() ? std::string("no rows") : std::to_string(dims[0]) + " rows") +
                    ", not " + std::to_string(want));
            p.type = H5Tget_native_type(p.ds.getDataType().getId(), H5T_DIR_ASCEND);
            parts.push_back(p); // closes the type, whatever happens
            p.type = -1;
            std::uint64_t row = parts.back().type < 0 ? 0 : H5Tget_size(parts.back().type);
            bool overflow = parts.back().type < 0;
            for (std::size_t i = 1; i < dims.size(); ++i)
                overflow = overflow || __builtin_mul_overflow(row, dims[i], &row);
            const std::uint64_t per_read = p.per_block ? 1 : std::min<std::uint64_t>(bs, want);
            if (overflow || row > max_bytes / std::max<std::uint64_t>(1, per_read))
                damaged("dataset " + full + " claims more data than the file can hold");
            parts.back().row_bytes = static_cast<std::size_t>(row);
        }
    }
    // The chain, block by block, as ResultWriter::append computed it.
    std::array<std::uint8_t, 32> chain{};
    std::vector<unsigned char> buf;
    std::uint64_t row0 = 0;
    for (std::uint64_t j = 0; j < rows_of.size(); ++j) {
        Sha256 h;
        h.update(chain.data(), chain.size());
        for (auto &p : parts) {
            const std::uint64_t first = p.per_block ? j : row0, n = p.per_block ? 1 : rows_of[j];
            buf.resize(static_cast<std::size_t>(n) * p.row_bytes);
            if (buf.empty())
                continue;
            auto fspace = p.ds.getSpace();
            const int rank = fspace.getSimpleExtentNdims();
            std::vector<hsize_t> dims(static_cast<std::size_t>(rank)), off(dims.size(), 0);
            fspace.getSimpleExtentDims(dims.data());
            off[0] = first;
            dims[0] = n;
            fspace.selectHyperslab(H5S_SELECT_SET, dims.data(), off.data());
            H5::DataSpace mspace(rank, dims.data());
            if (H5Dread(p.ds.getId(), p.type, mspace.getId(), fspace.getId(), H5P_DEFAULT,
                        buf.data()) < 0)
                damaged("its per-trial data cannot be read (rows " + std::to_string(first) +
                        " to " + std::to_string(first + n) + ")");
            h.update(buf.data(), buf.size());
        }
        chain = h.digest();
        row0 += rows_of[j];
    }
    if (hex(chain) != f.trials_sha256)
        damaged("its per-trial data do not match their SHA-256 digest");
}
} // namespace

std::pair<int, int> check_file_format(const H5::Group &root, const std::string &path) {
    if (!has_attr(root, "filetype") || read_attr_string(root, "filetype") != kFileType)
        throw InputError("'" + path + "' is not a chokepoint results file (no filetype '" +
                         std::string(kFileType) + "' attribute)");
    if (!has_attr(root, "format_version"))
        throw InputError("'" + path + "' has no format_version attribute");
    std::int32_t v[2] = {0, 0};
    auto a = root.openAttribute("format_version");
    if (a.getSpace().getSimpleExtentNpoints() != 2)
        throw InputError("'" + path + "' has a malformed format_version attribute");
    a.read(H5::PredType::NATIVE_INT32, v);
    if (v[0] != kFormatMajor)
        throw InputError("'" + path + "' has format version " + std::to_string(v[0]) + "." +
                         std::to_string(v[1]) + "; this program reads " +
                         std::to_string(kFormatMajor) + ".x");
    return {v[0], v[1]};
}

StoredRun read_stored_run(const std::string &path) {
    StoredRun r;
    r.path = path;
    quiet_hdf5_errors();
    if (!fs_exists(path))
        throw InputError("'" + path + "': no such file");
    require_regular_file(path, "results file"); // a FIFO would block HDF5's open() forever
    // What a damaged file may claim to hold is bounded by what its bytes can decompress to
    // (deflate: at most ~1032 to 1), so that a garbled size is refused, not allocated.
    std::error_code size_ec;
    const std::uint64_t file_bytes = std::filesystem::file_size(path, size_ec);
    // A sealed file (a checkpoint or shard) is checked from its bytes before HDF5 reads them:
    // libhdf5 may crash on malformed metadata (docs/robustness.md, fuzzing).
    const Seal seal = check_seal(path);
    if (seal == Seal::Broken)
        throw InputError("'" + path +
                         "' is damaged: its bytes do not match the SHA-256 sealed at its end (the "
                         "checkpoint or shard changed after it was written)");
    const std::uint64_t max_bytes = 1032 * file_bytes + (std::uint64_t(1) << 20);
    if (H5Fis_hdf5(path.c_str()) <= 0)
        throw InputError("'" + path + "' is not an HDF5 file (not a chokepoint results file)");
    // Only sealed files are parsed: what resume and merge read comes from this program (and a
    // file that does not is never handed to libhdf5's parser, which can crash on bad metadata).
    if (seal != Seal::Valid)
        throw InputError("'" + path +
                         "' is not a checkpoint and not a shard of this program: it has no seal "
                         "at its end (it is a finished results file, or a checkpoint or shard "
                         "damaged -- cut short or changed -- or written by chokepoint before "
                         "format 1.2); --resume takes OUT.checkpoint, merge the files of `run "
                         "--shard K/N`");
    try {
        H5::H5File f(path, H5F_ACC_RDONLY);
        auto root = f.openGroup("/");
        std::tie(r.format_major, r.format_minor) = check_file_format(root, path);
        for (const char *needed : {"trials_planned", "blocks_total", "first_block", "end_block",
                                   "shard_index", "shard_count", "seed", "block_size", "scenarios"})
            if (!has_attr(root, needed))
                throw InputError("'" + path + "' lacks the attribute '" + needed +
                                 "' (written by an older chokepoint); it cannot be resumed or "
                                 "merged");
        r.program_version = read_attr_string(root, "program_version");
        r.git_commit = read_attr_string(root, "git_commit");
        r.config_sha256 = read_attr_string(root, "config_sha256");
        r.name = read_attr_string(root, "name");
        r.seed = read_attr_scalar<std::uint64_t>(root, "seed");
        r.trials = has_attr(root, "trials") ? read_attr_scalar<std::uint64_t>(root, "trials") : 0;
        r.trials_planned = read_attr_scalar<std::uint64_t>(root, "trials_planned");
        r.requested_trials = has_attr(root, "trials_requested")
                                 ? read_attr_scalar<std::uint64_t>(root, "trials_requested")
                                 : r.trials_planned;
        r.block_size = read_attr_scalar<std::uint64_t>(root, "block_size");
        r.blocks_total = read_attr_scalar<std::uint64_t>(root, "blocks_total");
        r.first_block = read_attr_scalar<std::uint64_t>(root, "first_block");
        r.end_block = read_attr_scalar<std::uint64_t>(root, "end_block");
        r.horizon_months = read_attr_scalar<std::int32_t>(root, "horizon_months");
        r.shard_index = read_attr_scalar<std::int32_t>(root, "shard_index");
        r.shard_count = read_attr_scalar<std::int32_t>(root, "shard_count");
        r.complete =
            has_attr(root, "complete") && read_attr_scalar<std::int32_t>(root, "complete") == 1;
        r.overwrite =
            has_attr(root, "overwrite") && read_attr_scalar<std::int32_t>(root, "overwrite") == 1;
        r.store_inputs = has_attr(root, "store_inputs") &&
                         read_attr_scalar<std::int32_t>(root, "store_inputs") == 1;
        if (has_attr(root, "stop_se_below"))
            r.stop_se_below = read_attr_scalar<double>(root, "stop_se_below");
        auto cfg = f.openGroup("/config");
        for (const char *name : {"files", "texts"})
            if (static_cast<std::uint64_t>(
                    cfg.openDataSet(name).getSpace().getSimpleExtentNpoints()) > max_bytes / 8)
                throw InputError("'" + path + "' is damaged: /config/" + name +
                                 " claims more strings than its size can hold");
        const auto paths = read_strings(cfg, "files"), texts = read_strings(cfg, "texts");
        if (paths.size() != texts.size() || paths.empty())
            throw InputError("'" + path + "': /config holds no config texts");
        std::string all_texts;
        for (std::size_t i = 0; i < paths.size(); ++i) {
            r.files.push_back({paths[i], texts[i]});
            all_texts += texts[i];
        }
        if (sha256_hex(all_texts) != r.config_sha256)
            throw InputError("'" + path +
                             "' is damaged: its config texts do not match their SHA-256 digest "
                             "(config_sha256)");
        if (has_attr(root, "scenarios")) {
            std::stringstream ss(read_attr_string(root, "scenarios"));
            for (std::string id; std::getline(ss, id, ',');)
                r.scenarios.push_back(id);
        }
        if (H5Lexists(f.getId(), "/state", H5P_DEFAULT) > 0) {
            auto g = f.openGroup("/state");
            r.next_block = read_attr_scalar<std::uint64_t>(g, "next_block");
            for (const auto &id : r.scenarios) {
                if (H5Lexists(g.getId(), id.c_str(), H5P_DEFAULT) <= 0)
                    throw InputError("'" + path + "': /state lacks the state of scenario '" + id +
                                     "'");
                auto ds = g.openDataSet(id);
                const auto n = static_cast<std::uint64_t>(ds.getSpace().getSimpleExtentNpoints());
                if (n > max_bytes / 8)
                    throw InputError("'" + path + "' is damaged: /state/" + id + " claims " +
                                     std::to_string(n) + " words, more than its " +
                                     std::to_string(file_bytes) + " bytes can hold");
                std::vector<std::uint64_t> words(static_cast<std::size_t>(n));
                if (!words.empty())
                    ds.read(words.data(), H5::PredType::NATIVE_UINT64);
                r.state.push_back(std::move(words));
            }
            r.has_state = !r.scenarios.empty();
            verify_state(f, root, g, r, max_bytes);
        }
    } catch (const H5::Exception &e) {
        throw InputError("'" + path +
                         "' is damaged or is not a chokepoint results file: it cannot be read "
                         "(HDF5: " +
                         e.getFuncName() + ": " + e.getDetailMsg() + ")");
    }
    return r;
}

Model model_of(const StoredRun &r) {
    Model m = load_model_from_files(r.files);
    m.run.seed = r.seed;
    std::vector<std::string> chosen(r.scenarios.begin() + (r.scenarios.empty() ? 0 : 1),
                                    r.scenarios.end());
    if (chosen.empty())
        m.scenarios.clear(); // the run had the baseline only
    select_scenarios(m, chosen);
    m.run.store_inputs = r.store_inputs;
    if (m.run.stop.enabled && r.stop_se_below > 0)
        m.run.stop.se_below = r.stop_se_below;
    set_trials(m, r.requested_trials);
    if (m.run.trials != r.trials_planned && !m.run.stop.enabled)
        throw InputError("'" + r.path + "': its stored config does not rebuild its run (" +
                         std::to_string(m.run.trials) + " trials, the file plans " +
                         std::to_string(r.trials_planned) + ")");
    if (m.run.block_size != r.block_size || m.run.horizon_months != r.horizon_months)
        throw InputError("'" + r.path + "': its stored config does not rebuild the same run " +
                         "(block size or horizon differ)");
    return m;
}

struct TrialReader::Impl {
    const Model &m;
    H5::H5File file;
    std::vector<H5::Group> trials;
    std::vector<const Model *> models;
    std::uint64_t rows = 0;
    Impl(const std::string &path, const Model &model) : m(model) {
        quiet_hdf5_errors();
        file = H5::H5File(path, H5F_ACC_RDONLY);
        models = run_models(m);
        for (const auto &id : run_scenario_ids(m))
            trials.push_back(file.openGroup("/scenarios/" + id + "/trials"));
        auto ds = trials.front().openDataSet("trial");
        hsize_t n = 0;
        ds.getSpace().getSimpleExtentDims(&n);
        rows = n;
    }
    template <class T>
    void read(std::size_t k, const char *name, std::uint64_t first, std::uint64_t count,
              std::vector<T> &out) {
        auto ds = trials[k].openDataSet(name);
        auto fspace = ds.getSpace();
        const int rank = fspace.getSimpleExtentNdims();
        std::vector<hsize_t> dims(static_cast<std::size_t>(rank)), off(dims.size(), 0);
        fspace.getSimpleExtentDims(dims.data());
        std::size_t width = 1;
        for (std::size_t i = 1; i < dims.size(); ++i)
            width *= static_cast<std::size_t>(dims[i]);
        out.assign(static_cast<std::size_t>(count) * width, T{});
        auto cnt = dims;
        cnt[0] = count;
        off[0] = first;
        if (count == 0 || width == 0)
            return;
        fspace.selectHyperslab(H5S_SELECT_SET, cnt.data(), off.data());
        H5::DataSpace ms(rank, cnt.data());
        ds.read(out.data(), h5type<T>(), ms, fspace);
    }
};

TrialReader::TrialReader(const std::string &path, const Model &model)
    : impl_(std::make_unique<Impl>(path, model)) {}
TrialReader::~TrialReader() = default;
std::uint64_t TrialReader::rows() const {
    return impl_->rows;
}

void TrialReader::read(std::uint64_t first, std::uint64_t count, std::vector<BlockResult> &out) {
    auto &I = *impl_;
    if (first + count > I.rows)
        throw std::out_of_range("TrialReader: rows beyond the file");
    out.resize(I.trials.size());
    for (std::size_t k = 0; k < I.trials.size(); ++k) {
        auto &b = out[k];
        b.packed.clear(); // rows only: the writer deflates them
        std::vector<std::uint64_t> idx;
        I.read(k, "trial", first, count, idx);
        b.first_trial = idx.empty() ? 0 : idx.front();
        b.count = count;
        I.read(k, "shortfall", first, count, b.shortfall);
        I.read(k, "demand_total", first, count, b.demand_total);
        I.read(k, "shortfall_share", first, count, b.shortfall_share);
        I.read(k, "stockpile_min", first, count, b.stockpile_min);
        I.read(k, "short_months", first, count, b.short_months);
        I.read(k, "longest_run", first, count, b.longest_run);
        I.read(k, "stockout_month", first, count, b.stockout_month);
        I.read(k, "facility_binding_months", first, count, b.facility_binding_months);
        I.read(k, "regime", first, count, b.regime);
        I.read(k, "event_onset", first, count, b.event_onset);
        if (I.models[k]->run.store_monthly)
            I.read(k, "monthly_shortfall", first, count, b.monthly_shortfall);
        if (H5Lexists(I.trials[k].getId(), "inputs", H5P_DEFAULT) > 0)
            I.read(k, "inputs", first, count, b.inputs);
        else
            b.inputs.clear();
        if (H5Lexists(I.trials[k].getId(), "weight", H5P_DEFAULT) > 0)
            I.read(k, "weight", first, count, b.weight);
        else
            b.weight.assign(static_cast<std::size_t>(count), 1.0);
    }
}

} // namespace chokepoint
