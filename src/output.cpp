#include "output.hpp"

#include "version.hpp"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <functional>
#include <hdf5_hl.h>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace chokepoint {

namespace {

template <class T> const H5::PredType &h5type();
template <> const H5::PredType &h5type<double>() {
    return H5::PredType::NATIVE_DOUBLE;
}
template <> const H5::PredType &h5type<std::int32_t>() {
    return H5::PredType::NATIVE_INT32;
}
template <> const H5::PredType &h5type<std::uint64_t>() {
    return H5::PredType::NATIVE_UINT64;
}

const H5::StrType &vlen_str() {
    static const H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
    return t;
}

void drop_attr(H5::H5Object &obj, const char *name) {
    if (obj.attrExists(name))
        obj.removeAttr(name);
}

void attr_string(H5::H5Object &obj, const char *name, const std::string &value) {
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

void write_strings(H5::Group &g, const char *name, const std::vector<std::string> &values) {
    const hsize_t n = values.size();
    H5::DataSpace space(1, &n);
    auto ds = g.createDataSet(name, vlen_str(), space);
    std::vector<const char *> ptrs;
    for (const auto &v : values)
        ptrs.push_back(v.c_str());
    if (n)
        ds.write(ptrs.data(), vlen_str());
}

template <class T>
void write_array(H5::Group &g, const char *name, const std::vector<T> &values,
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
void make_scale(H5::DataSet &ds, const std::string &name) {
    if (H5DSset_scale(ds.getId(), name.c_str()) < 0)
        throw std::runtime_error("cannot make dimension scale " + name);
}

/// Attaches the scales named in `dims` (datasets of `g`) to the dimensions of dataset `name`.
void label(H5::Group &g, const std::string &name, const std::vector<std::string> &dims) {
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
void name_scale(H5::Group &g, const char *dim, const std::vector<std::string> &values) {
    write_strings(g, dim, values);
    auto ds = g.openDataSet(dim);
    make_scale(ds, dim);
}

/// Coordinates of a group: index (0..n-1) scales and name scales.
void index_scale(H5::Group &g, const std::string &name, hsize_t n) {
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
class Appendable {
public:
    Appendable() = default;
    Appendable(H5::Group &g, const char *name, const H5::PredType &type, std::vector<hsize_t> inner,
               hsize_t chunk_rows)
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
        // Keep chunks near 1 MiB or below whatever the inner size.
        const hsize_t bytes_per_row = row_elems * type.getSize();
        chunk[0] = std::max<hsize_t>(
            1, std::min<hsize_t>(chunk_rows, (1u << 20) / std::max<hsize_t>(1, bytes_per_row)));
        H5::DataSpace space(static_cast<int>(dims.size()), dims.data(), maxdims.data());
        H5::DSetCreatPropList plist;
        plist.setChunk(static_cast<int>(chunk.size()), chunk.data());
        plist.setShuffle();
        plist.setDeflate(4);
        ds_ = g.createDataSet(name, type, space, plist);
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
        return a;
    }
    hsize_t rows() const { return rows_; }

    template <class T> void append(const T *data, hsize_t rows) {
        if (rows == 0)
            return;
        std::vector<hsize_t> newdims{rows_ + rows}, start{rows_}, count{rows};
        for (hsize_t d : inner_) {
            newdims.push_back(d);
            start.push_back(0);
            count.push_back(d);
        }
        ds_.extend(newdims.data());
        H5::DataSpace fspace = ds_.getSpace();
        fspace.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
        H5::DataSpace mspace(static_cast<int>(count.size()), count.data());
        ds_.write(data, *type_, mspace, fspace);
        rows_ += rows;
    }

    H5::DataSet &dataset() { return ds_; }

private:
    H5::DataSet ds_;
    const H5::PredType *type_ = nullptr;
    std::vector<hsize_t> inner_;
    hsize_t rows_ = 0;
};

bool fs_exists(const std::string &path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
}

template <> const H5::PredType &h5type<float>() {
    return H5::PredType::NATIVE_FLOAT;
}

std::string utc_now() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

} // namespace

struct ResultWriter::Impl {
    const Model &m;
    RunInfo info;
    H5::H5File file;
    H5::Group scen, trials;
    Appendable shortfall, demand_total, share, short_months, longest_run, stockpile_min, stockout,
        fac_binding, regime, event_onset, monthly, trial_index;
    std::uint64_t rows = 0;

    /// Reopens a checkpoint (copied to `path`) to continue appending to it.
    Impl(const std::string &path, const Model &model, const RunInfo &ri, bool /*resume*/)
        : m(model), info(ri) {
        file = H5::H5File(path, H5F_ACC_RDWR);
        scen = file.openGroup("/scenarios/" + info.scenario);
        trials = scen.openGroup("trials");
        using P = H5::PredType;
        shortfall = Appendable::open(trials, "shortfall", P::NATIVE_DOUBLE);
        demand_total = Appendable::open(trials, "demand_total", P::NATIVE_DOUBLE);
        share = Appendable::open(trials, "shortfall_share", P::NATIVE_DOUBLE);
        short_months = Appendable::open(trials, "short_months", P::NATIVE_INT32);
        longest_run = Appendable::open(trials, "longest_run", P::NATIVE_INT32);
        stockpile_min = Appendable::open(trials, "stockpile_min", P::NATIVE_DOUBLE);
        stockout = Appendable::open(trials, "stockout_month", P::NATIVE_INT32);
        fac_binding = Appendable::open(trials, "facility_binding_months", P::NATIVE_INT32);
        regime = Appendable::open(trials, "regime", P::NATIVE_INT32);
        event_onset = Appendable::open(trials, "event_onset", P::NATIVE_INT32);
        if (m.run.store_monthly)
            monthly = Appendable::open(trials, "monthly_shortfall", P::NATIVE_FLOAT);
        trial_index = Appendable::open(trials, "trial", P::NATIVE_UINT64);
        rows = trial_index.rows();
        auto root = file.openGroup("/");
        attr_scalar<std::int32_t>(root, "threads", info.threads);
        attr_scalar<std::int32_t>(root, "ranks", info.ranks);
    }

    Impl(const std::string &path, const Model &model, const RunInfo &ri) : m(model), info(ri) {
        file = H5::H5File(path, H5F_ACC_EXCL);
        auto root = file.openGroup("/");
        attr_string(root, "filetype", kFileType);
        {
            const hsize_t two = 2;
            H5::DataSpace sp(1, &two);
            auto a = root.createAttribute("format_version", H5::PredType::NATIVE_INT32, sp);
            const std::int32_t v[2] = {kFormatMajor, kFormatMinor};
            a.write(H5::PredType::NATIVE_INT32, v);
        }
        attr_string(root, "program_version", kVersion);
        attr_string(root, "git_commit", kGitCommit);
        attr_scalar<std::uint64_t>(root, "seed", m.run.seed);
        attr_scalar<std::int32_t>(root, "horizon_months", m.run.horizon_months);
        attr_scalar<std::uint64_t>(root, "block_size", m.run.block_size);
        attr_scalar<std::int32_t>(root, "threads", info.threads);
        attr_scalar<std::int32_t>(root, "ranks", info.ranks);
        attr_scalar<std::uint64_t>(root, "trials_planned", m.run.trials);
        attr_scalar<std::uint64_t>(root, "blocks_total", info.blocks_total);
        attr_scalar<std::uint64_t>(root, "first_block", info.first_block);
        attr_scalar<std::uint64_t>(root, "end_block", info.end_block);
        attr_scalar<std::int32_t>(root, "shard_index", info.shard_index);
        attr_scalar<std::int32_t>(root, "shard_count", info.shard_count);
        attr_string(root, "config_sha256", info.config_sha256);
        attr_string(root, "name", m.name);
        attr_string(root, "description", m.description);
        attr_string(root, "start", m.run.start);

        auto cfg = file.createGroup("/config");
        std::vector<std::string> paths, texts;
        for (const auto &f : m.files) {
            paths.push_back(f.path);
            texts.push_back(f.text);
        }
        write_strings(cfg, "files", paths);
        write_strings(cfg, "texts", texts);

        auto mg = file.createGroup("/model");
        std::vector<std::string> names, recipes;
        for (const auto &p : m.products) {
            names.push_back(p.id);
            std::string r;
            for (const auto &[q, c] : p.recipe) {
                if (!r.empty())
                    r += ",";
                std::ostringstream os;
                os.precision(17);
                os << c;
                r += m.products[static_cast<std::size_t>(q)].id + ":" + os.str();
            }
            recipes.push_back(r);
        }
        write_strings(mg, "products", names);
        write_strings(mg, "recipes", recipes);
        names.clear();
        std::vector<std::int32_t> prod;
        std::vector<std::string> ctry;
        for (const auto &f : m.facilities) {
            names.push_back(f.id);
            prod.push_back(f.product);
            ctry.push_back(m.countries[static_cast<std::size_t>(f.country)]);
        }
        write_strings(mg, "facilities", names);
        write_array(mg, "facility_product", prod);
        write_strings(mg, "facility_country", ctry);
        names.clear();
        prod.clear();
        ctry.clear();
        std::vector<std::int32_t> tier, has_stockpile;
        for (const auto &d : m.demands) {
            names.push_back(d.id);
            prod.push_back(d.product);
            ctry.push_back(m.countries[static_cast<std::size_t>(d.country)]);
            tier.push_back(d.tier);
            has_stockpile.push_back(d.has_stockpile ? 1 : 0);
        }
        write_array(mg, "demand_has_stockpile", has_stockpile);
        write_strings(mg, "demands", names);
        write_array(mg, "demand_product", prod);
        write_strings(mg, "demand_country", ctry);
        write_array(mg, "demand_tier", tier);
        names.clear();
        std::vector<std::string> types;
        for (const auto &e : m.events) {
            names.push_back(e.id);
            types.push_back(e.type == EventType::ExportControl ? "export_control"
                                                               : "capacity_shock");
        }
        write_strings(mg, "events", names);
        write_strings(mg, "event_type", types);
        names.clear();
        std::vector<double> weights;
        for (const auto &r : m.regimes) {
            names.push_back(r.id);
            weights.push_back(r.weight);
        }
        write_strings(mg, "regimes", names);
        write_array(mg, "regime_weight", weights);
        names.clear();
        for (const auto &r : m.restrictions)
            names.push_back(r.id);
        write_strings(mg, "restrictions", names);
        std::vector<std::string> covered;
        for (const auto &r : m.restrictions) {
            std::string list;
            for (std::size_t p = 0; p < m.products.size(); ++p)
                if (r.product[p])
                    list += (list.empty() ? "" : ",") + m.products[p].id;
            covered.push_back(list);
        }
        write_strings(mg, "restriction_products", covered);
        std::vector<std::int32_t> chain;
        for (const auto &p : m.products)
            chain.push_back(p.component);
        write_array(mg, "product_chain", chain);
        write_strings(mg, "nodes", m.node_names);
        write_strings(mg, "countries", m.countries);

        file.createGroup("/scenarios");
        scen = file.createGroup("/scenarios/" + info.scenario);
        trials = scen.createGroup("trials");
        const hsize_t D = m.demands.size(), F = m.facilities.size(), E = m.events.size(),
                      H = static_cast<hsize_t>(m.run.horizon_months);
        const hsize_t chunk = std::max<hsize_t>(1, m.run.block_size);
        shortfall = Appendable(trials, "shortfall", H5::PredType::NATIVE_DOUBLE, {D}, chunk);
        demand_total = Appendable(trials, "demand_total", H5::PredType::NATIVE_DOUBLE, {D}, chunk);
        share = Appendable(trials, "shortfall_share", H5::PredType::NATIVE_DOUBLE, {D}, chunk);
        short_months = Appendable(trials, "short_months", H5::PredType::NATIVE_INT32, {D}, chunk);
        longest_run = Appendable(trials, "longest_run", H5::PredType::NATIVE_INT32, {D}, chunk);
        stockpile_min =
            Appendable(trials, "stockpile_min", H5::PredType::NATIVE_DOUBLE, {D}, chunk);
        stockout = Appendable(trials, "stockout_month", H5::PredType::NATIVE_INT32, {D}, chunk);
        fac_binding =
            Appendable(trials, "facility_binding_months", H5::PredType::NATIVE_INT32, {F}, chunk);
        regime = Appendable(trials, "regime", H5::PredType::NATIVE_INT32, {}, chunk);
        event_onset = Appendable(trials, "event_onset", H5::PredType::NATIVE_INT32, {E}, chunk);
        if (m.run.store_monthly)
            monthly =
                Appendable(trials, "monthly_shortfall", H5::PredType::NATIVE_FLOAT, {D, H}, chunk);

        // Named dimensions (HDF5 dimension scales, read by netCDF-4 tools such as xarray).
        trial_index = Appendable(trials, "trial", H5::PredType::NATIVE_UINT64, {}, chunk);
        make_scale(trial_index.dataset(), "trial");
        name_scales(trials);
        index_scale(trials, "month", H);
        for (const char *name : {"shortfall", "demand_total", "shortfall_share", "short_months",
                                 "longest_run", "stockpile_min", "stockout_month"})
            label(trials, name, {"trial", "demand"});
        label(trials, "facility_binding_months", {"trial", "facility"});
        label(trials, "regime", {"trial"});
        label(trials, "event_onset", {"trial", "event"});
        if (m.run.store_monthly)
            label(trials, "monthly_shortfall", {"trial", "demand", "month"});
    }

    /// Coordinates naming the model's entities, as dimension scales of group `g`.
    void name_scales(H5::Group &g) {
        name_scale(g, "demand", ids(m.demands));
        name_scale(g, "facility", ids(m.facilities));
        name_scale(g, "event", ids(m.events));
    }
};

/// Names the dimensions of every dataset of the summary group (see docs/output-format.md).
void ResultWriter::label_summary(H5::Group &sg) {
    auto &I = *impl_;
    const Model &m = I.m;
    I.name_scales(sg);
    name_scale(sg, "regime", ids(m.regimes));
    name_scale(sg, "restriction", ids(m.restrictions));
    name_scale(sg, "node", m.node_names);
    index_scale(sg, "month", static_cast<hsize_t>(m.run.horizon_months));
    index_scale(sg, "grid", 101);
    auto values = [&](const char *dim, const char *source) {
        auto src = sg.openDataSet(source);
        std::vector<double> x(static_cast<std::size_t>(src.getSpace().getSimpleExtentNpoints()));
        if (!x.empty())
            src.read(x.data(), H5::PredType::NATIVE_DOUBLE);
        write_array(sg, dim, x);
        auto ds = sg.openDataSet(dim);
        make_scale(ds, dim);
    };
    values("quantile", "quantile_levels");
    values("threshold", "threshold_levels");
    values("var_level", "var_levels");
    if (m.run.store_monthly)
        values("band", "monthly_band_levels");

    // Every dataset's dimensions, by name (a "_se" twin has its base's dimensions).
    const std::vector<std::pair<std::string, std::vector<std::string>>> table = {
        {"eud", {"demand"}},
        {"expected_demand", {"demand"}},
        {"eud_share", {"demand"}},
        {"mean_shortfall_share", {"demand"}},
        {"lose", {"demand"}},
        {"p_short", {"demand"}},
        {"monthly_mean_shortfall", {"demand", "month"}},
        {"facility_binding_trial_share", {"facility"}},
        {"facility_binding_month_share", {"facility"}},
        {"facility_binding_unserved", {"facility"}},
        {"facility_binding_unserved_share", {"facility"}},
        {"node_binding_trial_share", {"node"}},
        {"node_binding_month_share", {"node"}},
        {"node_binding_unserved", {"node"}},
        {"node_binding_unserved_share", {"node"}},
        {"restriction_binding_trial_share", {"restriction"}},
        {"restriction_binding_month_share", {"restriction"}},
        {"restriction_binding_unserved", {"restriction"}},
        {"restriction_binding_unserved_share", {"restriction"}},
        {"event_fired_share", {"event"}},
        {"regime_share", {"regime"}},
        {"eud_given_event", {"event", "demand"}},
        {"eud_given_no_event", {"event", "demand"}},
        {"p_short_given_event", {"event", "demand"}},
        {"p_short_given_no_event", {"event", "demand"}},
        {"eud_by_regime", {"regime", "demand"}},
        {"p_short_by_regime", {"regime", "demand"}},
        {"threshold_levels", {"threshold"}},
        {"p_share_above", {"demand", "threshold"}},
        {"quantile_levels", {"quantile"}},
        {"shortfall_quantiles", {"demand", "quantile"}},
        {"shortfall_quantiles_ci_low", {"demand", "quantile"}},
        {"shortfall_quantiles_ci_high", {"demand", "quantile"}},
        {"var_levels", {"var_level"}},
        {"var", {"demand", "var_level"}},
        {"cvar", {"demand", "var_level"}},
        {"exceedance_x", {"demand", "grid"}},
        {"exceedance_p", {"demand", "grid"}},
        {"monthly_band_levels", {"band"}},
        {"monthly_shortfall_bands", {"demand", "month", "band"}},
    };
    for (const auto &[name, dims] : table) {
        for (const std::string suffix : {"", "_se"}) {
            const std::string full = name + suffix;
            if (H5Lexists(sg.getId(), full.c_str(), H5P_DEFAULT) > 0)
                label(sg, full, dims);
        }
    }
}

ResultWriter::ResultWriter(const std::string &path, const Model &model, const RunInfo &info)
    : impl_(std::make_unique<Impl>(path, model, info)) {}

ResultWriter::ResultWriter(const std::string &path, const Model &model, const RunInfo &info, Resume)
    : impl_(std::make_unique<Impl>(path, model, info, true)) {}

std::uint64_t ResultWriter::rows() const {
    return impl_->rows;
}

namespace {
/// Replaces /state with the exact statistics state `words` and the next block to run.
void write_state(H5::H5File &file, const std::vector<std::uint64_t> &words,
                 std::uint64_t next_block) {
    if (H5Lexists(file.getId(), "/state", H5P_DEFAULT) > 0)
        file.unlink("/state");
    auto g = file.createGroup("/state");
    attr_scalar<std::uint64_t>(g, "next_block", next_block);
    attr_string(g, "about",
                "exact state of the statistics (chokepoint::Accumulators::save) after the "
                "blocks before next_block: what resume and merge continue from");
    const hsize_t n = words.size();
    H5::DataSpace space(1, &n);
    H5::DSetCreatPropList plist;
    const hsize_t chunk = std::max<hsize_t>(1, std::min<hsize_t>(n, 1 << 16));
    plist.setChunk(1, &chunk);
    plist.setDeflate(4);
    auto ds = g.createDataSet("accumulators", H5::PredType::NATIVE_UINT64, space, plist);
    if (n)
        ds.write(words.data(), H5::PredType::NATIVE_UINT64);
}
} // namespace

void ResultWriter::checkpoint(const Accumulators &acc, std::uint64_t next_block) {
    auto &I = *impl_;
    write_state(I.file, acc.save(), next_block);
    auto root = I.file.openGroup("/");
    attr_scalar<std::uint64_t>(root, "trials", I.rows);
    attr_scalar<std::int32_t>(root, "complete", 0);
    attr_string(root, "created_utc", utc_now());
    I.file.flush(H5F_SCOPE_GLOBAL);
    I.file.close();
}

ResultWriter::~ResultWriter() = default;

void ResultWriter::append(const BlockResult &b) {
    auto &I = *impl_;
    const hsize_t n = b.count;
    I.shortfall.append(b.shortfall.data(), n);
    I.demand_total.append(b.demand_total.data(), n);
    I.share.append(b.shortfall_share.data(), n);
    I.short_months.append(b.short_months.data(), n);
    I.longest_run.append(b.longest_run.data(), n);
    I.stockpile_min.append(b.stockpile_min.data(), n);
    I.stockout.append(b.stockout_month.data(), n);
    I.fac_binding.append(b.facility_binding_months.data(), n);
    I.regime.append(b.regime.data(), n);
    I.event_onset.append(b.event_onset.data(), n);
    std::vector<std::uint64_t> idx(static_cast<std::size_t>(n));
    for (hsize_t i = 0; i < n; ++i)
        idx[static_cast<std::size_t>(i)] = b.first_trial + i;
    I.trial_index.append(idx.data(), n);
    if (I.m.run.store_monthly)
        I.monthly.append(b.monthly_shortfall.data(), n);
    I.rows += n;
}

void ResultWriter::finish(const Accumulators &acc) {
    auto &I = *impl_;
    const Model &m = I.m;
    const auto D = m.demands.size();
    auto sg = I.scen.createGroup("summary");
    auto means = [](const std::vector<Moments> &v) {
        std::vector<double> out;
        for (const auto &x : v)
            out.push_back(x.mean());
        return out;
    };
    auto ses = [](const std::vector<Moments> &v) {
        std::vector<double> out;
        for (const auto &x : v)
            out.push_back(x.se());
        return out;
    };
    // Conditional means: NaN over no trials, and a NaN error over fewer than two (unknown, not 0).
    const double nan = std::numeric_limits<double>::quiet_NaN();
    auto cmeans = [&](const std::vector<Moments> &v) {
        std::vector<double> out;
        for (const auto &x : v)
            out.push_back(x.count() ? x.mean() : nan);
        return out;
    };
    auto cses = [&](const std::vector<Moments> &v) {
        std::vector<double> out;
        for (const auto &x : v)
            out.push_back(x.count() > 1 ? x.se() : nan);
        return out;
    };
    write_array(sg, "eud", means(acc.shortfall));
    write_array(sg, "eud_se", ses(acc.shortfall));
    write_array(sg, "expected_demand", means(acc.demand_total));
    write_array(sg, "expected_demand_se", ses(acc.demand_total));
    std::vector<double> eud_share;
    for (std::size_t d = 0; d < D; ++d)
        eud_share.push_back(acc.demand_total[d].mean() > 0
                                ? acc.shortfall[d].mean() / acc.demand_total[d].mean()
                                : 0.0);
    write_array(sg, "eud_share", eud_share);
    write_array(sg, "mean_shortfall_share", means(acc.shortfall_share));
    write_array(sg, "mean_shortfall_share_se", ses(acc.shortfall_share));
    write_array(sg, "lose", means(acc.short_months));
    write_array(sg, "lose_se", ses(acc.short_months));
    write_array(sg, "p_short", means(acc.any_short));
    write_array(sg, "p_short_se", ses(acc.any_short));
    const hsize_t H = static_cast<hsize_t>(m.run.horizon_months);
    write_array(sg, "monthly_mean_shortfall", means(acc.monthly), {D, H});
    write_array(sg, "monthly_mean_shortfall_se", ses(acc.monthly), {D, H});
    write_array(sg, "facility_binding_trial_share", means(acc.fac_trial));
    write_array(sg, "facility_binding_trial_share_se", ses(acc.fac_trial));
    write_array(sg, "facility_binding_month_share", means(acc.fac_months));
    write_array(sg, "facility_binding_month_share_se", ses(acc.fac_months));
    write_array(sg, "facility_binding_unserved", means(acc.fac_unserved));
    write_array(sg, "facility_binding_unserved_se", ses(acc.fac_unserved));
    write_array(sg, "node_binding_trial_share", means(acc.node_trial));
    write_array(sg, "node_binding_trial_share_se", ses(acc.node_trial));
    write_array(sg, "node_binding_month_share", means(acc.node_months));
    write_array(sg, "node_binding_month_share_se", ses(acc.node_months));
    write_array(sg, "node_binding_unserved", means(acc.node_unserved));
    write_array(sg, "node_binding_unserved_se", ses(acc.node_unserved));
    write_array(sg, "restriction_binding_trial_share", means(acc.res_trial));
    write_array(sg, "restriction_binding_trial_share_se", ses(acc.res_trial));
    write_array(sg, "restriction_binding_month_share", means(acc.res_months));
    write_array(sg, "restriction_binding_month_share_se", ses(acc.res_months));
    write_array(sg, "restriction_binding_unserved", means(acc.res_unserved));
    write_array(sg, "restriction_binding_unserved_se", ses(acc.res_unserved));
    write_array(sg, "event_fired_share", means(acc.event_fired));
    write_array(sg, "event_fired_share_se", ses(acc.event_fired));
    std::vector<double> regime_share;
    for (auto c : acc.regime_count)
        regime_share.push_back(I.rows ? static_cast<double>(c) / static_cast<double>(I.rows) : 0.0);
    write_array(sg, "regime_share", regime_share);

    // Conditional views: given that an event fired (or not), and by regime. [event, demand]
    {
        const hsize_t E = m.events.size(), G = m.regimes.size();
        write_array(sg, "eud_given_event", cmeans(acc.fired_shortfall), {E, D});
        write_array(sg, "eud_given_event_se", cses(acc.fired_shortfall), {E, D});
        write_array(sg, "eud_given_no_event", cmeans(acc.unfired_shortfall), {E, D});
        write_array(sg, "eud_given_no_event_se", cses(acc.unfired_shortfall), {E, D});
        write_array(sg, "p_short_given_event", cmeans(acc.fired_short), {E, D});
        write_array(sg, "p_short_given_event_se", cses(acc.fired_short), {E, D});
        write_array(sg, "p_short_given_no_event", cmeans(acc.unfired_short), {E, D});
        write_array(sg, "p_short_given_no_event_se", cses(acc.unfired_short), {E, D});
        write_array(sg, "eud_by_regime", cmeans(acc.regime_shortfall), {G, D});
        write_array(sg, "eud_by_regime_se", cses(acc.regime_shortfall), {G, D});
        write_array(sg, "p_short_by_regime", cmeans(acc.regime_short), {G, D});
        write_array(sg, "p_short_by_regime_se", cses(acc.regime_short), {G, D});
        const hsize_t T = m.run.thresholds.size();
        write_array(sg, "threshold_levels", m.run.thresholds);
        write_array(sg, "p_share_above", means(acc.share_above), {D, T});
        write_array(sg, "p_share_above_se", ses(acc.share_above), {D, T});
    }

    // Share of each chain's unserved demand that falls in the months a constraint binds.
    {
        std::vector<double> chain_eud(static_cast<std::size_t>(m.n_components), 0.0);
        for (std::size_t d = 0; d < D; ++d)
            chain_eud[static_cast<std::size_t>(
                m.products[static_cast<std::size_t>(m.demands[d].product)].component)] +=
                acc.shortfall[d].mean();
        auto share = [&](const std::vector<Moments> &unserved, auto chain_of) {
            std::vector<double> out;
            for (std::size_t i = 0; i < unserved.size(); ++i) {
                const double total = chain_of(i);
                out.push_back(total > 0 ? unserved[i].mean() / total : 0.0);
            }
            return out;
        };
        auto chain_of_product = [&](int p) {
            return chain_eud[static_cast<std::size_t>(
                m.products[static_cast<std::size_t>(p)].component)];
        };
        write_array(sg, "facility_binding_unserved_share",
                    share(acc.fac_unserved, [&](std::size_t f) {
                        return chain_of_product(m.facilities[f].product);
                    }));
        write_array(sg, "node_binding_unserved_share", share(acc.node_unserved, [&](std::size_t n) {
                        return chain_of_product(m.node_product[n]);
                    }));
        write_array(sg, "restriction_binding_unserved_share",
                    share(acc.res_unserved, [&](std::size_t r) {
                        std::vector<char> in(chain_eud.size(), 0);
                        for (std::size_t p = 0; p < m.products.size(); ++p)
                            if (m.restrictions[r].product[p])
                                in[static_cast<std::size_t>(m.products[p].component)] = 1;
                        double t = 0;
                        for (std::size_t c = 0; c < in.size(); ++c)
                            t += in[c] ? chain_eud[c] : 0.0;
                        return t;
                    }));
    }

    // The distribution of total shortfall, from the per-trial data read back in slabs: exact
    // quantiles with distribution-free confidence intervals, value at risk, conditional value
    // at risk, exceedance curve.
    const hsize_t n = I.rows;
    auto scanner = [&](H5::DataSet &ds, hsize_t width) {
        return [&ds, width, n](const std::function<void(const double *)> &fn) {
            const hsize_t slab =
                std::max<hsize_t>(1, (hsize_t(1) << 16) / std::max<hsize_t>(1, width));
            std::vector<double> buf;
            const int rank = ds.getSpace().getSimpleExtentNdims();
            for (hsize_t start = 0; start < n; start += slab) {
                const hsize_t rows = std::min(slab, n - start);
                buf.resize(static_cast<std::size_t>(rows * width));
                std::vector<hsize_t> off(static_cast<std::size_t>(rank), 0), cnt;
                std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
                ds.getSpace().getSimpleExtentDims(dims.data());
                off[0] = start;
                cnt = dims;
                cnt[0] = rows;
                H5::DataSpace fs = ds.getSpace();
                fs.selectHyperslab(H5S_SELECT_SET, cnt.data(), off.data());
                H5::DataSpace ms(rank, cnt.data());
                ds.read(buf.data(), H5::PredType::NATIVE_DOUBLE, ms, fs);
                for (hsize_t r = 0; r < rows; ++r)
                    fn(&buf[static_cast<std::size_t>(r * width)]);
            }
        };
    };
    {
        const auto &levels = m.run.quantiles;
        const std::vector<double> var_levels{0.95, 0.99};
        constexpr double kConf = 0.95;
        std::vector<std::uint64_t> ranks;
        std::vector<std::pair<std::int64_t, std::int64_t>> ci;
        auto lin = [&](double p) {
            const auto lo = static_cast<std::uint64_t>(std::floor(static_cast<double>(n - 1) * p));
            ranks.push_back(lo);
            ranks.push_back(std::min<std::uint64_t>(lo + 1, n - 1));
        };
        for (double p : levels) {
            lin(p);
            ci.push_back(quantile_ci_ranks(n, p, kConf));
            ranks.push_back(ci.back().first < 0 ? 0 : static_cast<std::uint64_t>(ci.back().first));
            ranks.push_back(ci.back().second < 0 ? n - 1
                                                 : static_cast<std::uint64_t>(ci.back().second));
        }
        std::vector<std::uint64_t> tail_m;
        for (double a : var_levels) {
            lin(a);
            const auto mt = std::max<std::uint64_t>(
                1, static_cast<std::uint64_t>(std::ceil(static_cast<double>(n) * (1 - a) - 1e-9)));
            tail_m.push_back(std::min<std::uint64_t>(mt, n));
            ranks.push_back(n - tail_m.back()); // smallest value of the tail
        }
        auto &ds = I.shortfall.dataset();
        const auto os =
            n ? exact_order_statistics(n, static_cast<int>(D), ranks, acc.shortfall_min,
                                       acc.shortfall_max, scanner(ds, D))
              : std::vector<std::vector<double>>(D, std::vector<double>(ranks.size(), 0.0));
        const auto Q = levels.size();
        std::vector<double> q(D * Q), q_lo(D * Q), q_hi(D * Q), var(D * 2), tail_v(D * 2);
        for (std::size_t d = 0; d < D && n; ++d) {
            std::size_t r = 0;
            for (std::size_t j = 0; j < Q; ++j) {
                q[d * Q + j] = lerp_quantile(n, levels[j], os[d][r], os[d][r + 1]);
                q_lo[d * Q + j] = ci[j].first < 0 ? nan : os[d][r + 2];
                q_hi[d * Q + j] = ci[j].second < 0 ? nan : os[d][r + 3];
                r += 4;
            }
            for (std::size_t a = 0; a < 2; ++a) {
                var[d * 2 + a] = lerp_quantile(n, var_levels[a], os[d][r], os[d][r + 1]);
                tail_v[d * 2 + a] = os[d][r + 2];
                r += 3;
            }
        }
        write_array(sg, "quantile_levels", levels);
        write_array(sg, "shortfall_quantiles", q, {D, Q});
        write_array(sg, "shortfall_quantiles_ci_low", q_lo, {D, Q});
        write_array(sg, "shortfall_quantiles_ci_high", q_hi, {D, Q});
        write_array(sg, "var_levels", var_levels);
        write_array(sg, "var", var, {D, 2});

        // One more pass: tail sums for CVaR and the exceedance curve on a grid.
        constexpr std::size_t kGrid = 101;
        std::vector<double> grid(D * kGrid);
        for (std::size_t d = 0; d < D; ++d)
            for (std::size_t g = 0; g < kGrid; ++g)
                grid[d * kGrid + g] = g + 1 == kGrid // the last point is the largest itself
                                          ? std::max(0.0, acc.shortfall_max[d])
                                          : std::max(0.0, acc.shortfall_max[d]) *
                                                static_cast<double>(g) / (kGrid - 1);
        std::vector<std::uint64_t> above(D * 2, 0), hist(D * (kGrid + 1), 0);
        std::vector<ExactSum> s1(D * 2), s2(D * 2);
        if (n)
            scanner(ds, D)([&](const double *row) {
                for (std::size_t d = 0; d < D; ++d) {
                    const double x = row[d];
                    for (std::size_t a = 0; a < 2; ++a)
                        if (x > tail_v[d * 2 + a]) {
                            ++above[d * 2 + a];
                            s1[d * 2 + a].add(x);
                            s2[d * 2 + a].add(x * x);
                        }
                    const double *g0 = &grid[d * kGrid];
                    const auto c =
                        static_cast<std::size_t>(std::lower_bound(g0, g0 + kGrid, x) - g0);
                    ++hist[d * (kGrid + 1) + c]; // c grid points lie strictly below x
                }
            });
        std::vector<double> cvar(D * 2, 0.0), cvar_se(D * 2, 0.0);
        for (std::size_t i = 0; i < D * 2 && n; ++i) {
            // CVaR (expected shortfall): mean of the worst m = ceil(n (1 - a)) trials; values tied
            // with the tail's smallest value fill the tail up to m.
            const double mt = static_cast<double>(tail_m[i % 2]);
            const double ties = mt - static_cast<double>(above[i]);
            const double v = tail_v[i];
            const double sum = s1[i].value() + ties * v, sum2 = s2[i].value() + ties * v * v;
            cvar[i] = sum / mt;
            const double var_tail =
                mt > 1 ? std::max(0.0, (sum2 - sum * (sum / mt)) / (mt - 1)) : 0.0;
            cvar_se[i] = std::sqrt(var_tail / mt);
        }
        write_array(sg, "cvar", cvar, {D, 2});
        write_array(sg, "cvar_se", cvar_se, {D, 2});
        std::vector<double> exc(D * kGrid), exc_se(D * kGrid);
        for (std::size_t d = 0; d < D; ++d) {
            std::uint64_t greater = n; // trials with x > grid[g]: all minus those <= grid[g]
            for (std::size_t g = 0; g < kGrid; ++g) {
                greater -= hist[d * (kGrid + 1) + g]; // x <= grid[g] (x in (grid[g-1], grid[g]])
                const double p = n ? static_cast<double>(greater) / static_cast<double>(n) : 0.0;
                exc[d * kGrid + g] = p;
                exc_se[d * kGrid + g] =
                    n > 1 ? std::sqrt(p * (1 - p) / static_cast<double>(n - 1)) : 0.0;
            }
        }
        write_array(sg, "exceedance_x", grid, {D, kGrid});
        write_array(sg, "exceedance_p", exc, {D, kGrid});
        write_array(sg, "exceedance_p_se", exc_se, {D, kGrid});
    }

    // Monthly quantile bands (fan charts), exact, from the per-trial monthly shortfall.
    if (m.run.store_monthly) {
        const std::vector<double> bands{0.05, 0.25, 0.5, 0.75, 0.95};
        const hsize_t H = static_cast<hsize_t>(m.run.horizon_months);
        const auto k = static_cast<int>(D * H);
        std::vector<double> lo(D * H, 0.0);
        std::vector<double> flat(D * H * bands.size(), 0.0);
        if (n) {
            const auto q = exact_quantiles(n, k, bands, lo, acc.monthly_max,
                                           scanner(I.monthly.dataset(), D * H));
            for (std::size_t c = 0; c < D * H; ++c)
                for (std::size_t b = 0; b < bands.size(); ++b)
                    flat[c * bands.size() + b] = q[c][b];
        }
        write_array(sg, "monthly_band_levels", bands);
        write_array(sg, "monthly_shortfall_bands", flat,
                    {D, H, static_cast<hsize_t>(bands.size())});
    }

    label_summary(sg);

    // A shard keeps the exact state of its statistics for `chokepoint merge`; a whole run needs
    // none (a resumed checkpoint's state is dropped).
    if (I.info.shard_count > 0)
        write_state(I.file, acc.save(), I.info.end_block);
    else if (H5Lexists(I.file.getId(), "/state", H5P_DEFAULT) > 0)
        I.file.unlink("/state");
    auto root = I.file.openGroup("/");
    attr_scalar<std::uint64_t>(root, "trials", I.rows);
    attr_string(root, "created_utc", utc_now());
    attr_scalar<std::int32_t>(root, "complete", 1);
    I.file.flush(H5F_SCOPE_GLOBAL);
    I.file.close();
}

namespace {
bool has_attr(const H5::H5Object &o, const char *name) {
    return o.attrExists(name);
}

std::string read_attr_string(const H5::H5Object &o, const char *name) {
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

std::vector<std::string> read_strings(const H5::Group &g, const char *name) {
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
} // namespace

StoredRun read_stored_run(const std::string &path) {
    StoredRun r;
    r.path = path;
    H5::Exception::dontPrint();
    if (!fs_exists(path))
        throw InputError("'" + path + "': no such file");
    if (H5Fis_hdf5(path.c_str()) <= 0)
        throw InputError("'" + path + "' is not an HDF5 file (not a chokepoint results file)");
    try {
        H5::H5File f(path, H5F_ACC_RDONLY);
        auto root = f.openGroup("/");
        if (!has_attr(root, "filetype") || read_attr_string(root, "filetype") != kFileType)
            throw InputError("'" + path + "' is not a chokepoint results file (no filetype '" +
                             std::string(kFileType) + "' attribute)");
        {
            auto a = root.openAttribute("format_version");
            std::int32_t v[2] = {0, 0};
            a.read(H5::PredType::NATIVE_INT32, v);
            r.format_major = v[0];
            r.format_minor = v[1];
        }
        if (r.format_major != kFormatMajor)
            throw InputError("'" + path + "' has format version " + std::to_string(r.format_major) +
                             "." + std::to_string(r.format_minor) + "; this program reads " +
                             std::to_string(kFormatMajor) + ".x");
        for (const char *needed : {"trials_planned", "blocks_total", "first_block", "end_block",
                                   "shard_index", "shard_count", "seed", "block_size"})
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
        r.block_size = read_attr_scalar<std::uint64_t>(root, "block_size");
        r.blocks_total = read_attr_scalar<std::uint64_t>(root, "blocks_total");
        r.first_block = read_attr_scalar<std::uint64_t>(root, "first_block");
        r.end_block = read_attr_scalar<std::uint64_t>(root, "end_block");
        r.horizon_months = read_attr_scalar<std::int32_t>(root, "horizon_months");
        r.shard_index = read_attr_scalar<std::int32_t>(root, "shard_index");
        r.shard_count = read_attr_scalar<std::int32_t>(root, "shard_count");
        r.complete =
            has_attr(root, "complete") && read_attr_scalar<std::int32_t>(root, "complete") == 1;
        auto cfg = f.openGroup("/config");
        const auto paths = read_strings(cfg, "files"), texts = read_strings(cfg, "texts");
        if (paths.size() != texts.size() || paths.empty())
            throw InputError("'" + path + "': /config holds no config texts");
        for (std::size_t i = 0; i < paths.size(); ++i)
            r.files.push_back({paths[i], texts[i]});
        if (H5Lexists(f.getId(), "/state", H5P_DEFAULT) > 0) {
            auto g = f.openGroup("/state");
            r.next_block = read_attr_scalar<std::uint64_t>(g, "next_block");
            auto ds = g.openDataSet("accumulators");
            r.state.resize(static_cast<std::size_t>(ds.getSpace().getSimpleExtentNpoints()));
            if (!r.state.empty())
                ds.read(r.state.data(), H5::PredType::NATIVE_UINT64);
            r.has_state = true;
        }
    } catch (const H5::Exception &e) {
        throw InputError("'" + path + "' cannot be read as a chokepoint results file (HDF5: " +
                         e.getFuncName() + ": " + e.getDetailMsg() + ")");
    }
    return r;
}

Model model_of(const StoredRun &r) {
    Model m = load_model_from_files(r.files);
    m.run.seed = r.seed;
    m.run.trials = r.trials_planned;
    if (m.run.block_size != r.block_size || m.run.horizon_months != r.horizon_months)
        throw InputError("'" + r.path + "': its stored config does not rebuild the same run " +
                         "(block size or horizon differ)");
    return m;
}

struct TrialReader::Impl {
    const Model &m;
    H5::H5File file;
    H5::Group trials;
    std::uint64_t rows = 0;
    Impl(const std::string &path, const Model &model) : m(model) {
        file = H5::H5File(path, H5F_ACC_RDONLY);
        trials = file.openGroup("/scenarios/baseline/trials");
        auto ds = trials.openDataSet("trial");
        hsize_t n = 0;
        ds.getSpace().getSimpleExtentDims(&n);
        rows = n;
    }
    template <class T>
    void read(const char *name, std::uint64_t first, std::uint64_t count, std::vector<T> &out) {
        auto ds = trials.openDataSet(name);
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

void TrialReader::read(std::uint64_t first, std::uint64_t count, BlockResult &b) {
    auto &I = *impl_;
    if (first + count > I.rows)
        throw std::out_of_range("TrialReader: rows beyond the file");
    std::vector<std::uint64_t> idx;
    I.read("trial", first, count, idx);
    b.first_trial = idx.empty() ? 0 : idx.front();
    b.count = count;
    I.read("shortfall", first, count, b.shortfall);
    I.read("demand_total", first, count, b.demand_total);
    I.read("shortfall_share", first, count, b.shortfall_share);
    I.read("stockpile_min", first, count, b.stockpile_min);
    I.read("short_months", first, count, b.short_months);
    I.read("longest_run", first, count, b.longest_run);
    I.read("stockout_month", first, count, b.stockout_month);
    I.read("facility_binding_months", first, count, b.facility_binding_months);
    I.read("regime", first, count, b.regime);
    I.read("event_onset", first, count, b.event_onset);
    if (I.m.run.store_monthly)
        I.read("monthly_shortfall", first, count, b.monthly_shortfall);
}

} // namespace chokepoint
