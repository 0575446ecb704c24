#include "output.hpp"

#include "version.hpp"

#include <chrono>
#include <ctime>
#include <functional>
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

void attr_string(H5::H5Object &obj, const char *name, const std::string &value) {
    H5::DataSpace scalar(H5S_SCALAR);
    auto a = obj.createAttribute(name, vlen_str(), scalar);
    a.write(vlen_str(), value);
}

template <class T> void attr_scalar(H5::H5Object &obj, const char *name, T value) {
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
            maxdims.push_back(d);
            chunk.push_back(d);
            row_elems *= d;
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
        fac_binding, regime, event_onset, monthly;
    std::uint64_t rows = 0;

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
    }
};

ResultWriter::ResultWriter(const std::string &path, const Model &model, const RunInfo &info)
    : impl_(std::make_unique<Impl>(path, model, info)) {}

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
    write_array(sg, "eud", means(acc.shortfall));
    write_array(sg, "eud_se", ses(acc.shortfall));
    write_array(sg, "expected_demand", means(acc.demand_total));
    write_array(sg, "expected_demand_se", ses(acc.demand_total));
    std::vector<double> eud_share;
    for (std::size_t d = 0; d < D; ++d)
        eud_share.push_back(
            acc.demand_total[d].mean() > 0 ? acc.shortfall[d].mean() / acc.demand_total[d].mean() : 0.0);
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

    // Exact quantiles of total shortfall, read back from the per-trial dataset in slabs.
    write_array(sg, "quantile_levels", m.run.quantiles);
    {
        auto &ds = I.shortfall.dataset();
        const hsize_t n = I.rows;
        auto scan = [&](const std::function<void(const double *)> &fn) {
            const hsize_t slab = std::max<hsize_t>(1, (hsize_t(1) << 16) / std::max<hsize_t>(1, D));
            std::vector<double> buf;
            for (hsize_t start = 0; start < n; start += slab) {
                const hsize_t rows = std::min(slab, n - start);
                buf.resize(static_cast<std::size_t>(rows * D));
                hsize_t off[2] = {start, 0}, cnt[2] = {rows, D};
                H5::DataSpace fs = ds.getSpace();
                fs.selectHyperslab(H5S_SELECT_SET, cnt, off);
                H5::DataSpace ms(2, cnt);
                ds.read(buf.data(), H5::PredType::NATIVE_DOUBLE, ms, fs);
                for (hsize_t r = 0; r < rows; ++r)
                    fn(&buf[static_cast<std::size_t>(r * D)]);
            }
        };
        const auto q = exact_quantiles(n, static_cast<int>(D), m.run.quantiles, acc.shortfall_min,
                                       acc.shortfall_max, scan);
        std::vector<double> flat;
        for (const auto &row : q)
            flat.insert(flat.end(), row.begin(), row.end());
        write_array(sg, "shortfall_quantiles", flat,
                    {D, static_cast<hsize_t>(m.run.quantiles.size())});
    }

    auto root = I.file.openGroup("/");
    attr_scalar<std::uint64_t>(root, "trials", I.rows);
    attr_string(root, "created_utc", utc_now());
    attr_scalar<std::int32_t>(root, "complete", 1);
    I.file.flush(H5F_SCOPE_GLOBAL);
    I.file.close();
}

} // namespace chokepoint
