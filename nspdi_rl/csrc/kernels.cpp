// nspdi_rl's compiled kernels (nspdi_rl/kernels.py), float32 on the CPU:
// - the LIF time loop of nspdi_rl.functional._LIFSequence: per time step one
//   vectorised, branch-free pass over the neurons instead of ~7 tensor operations
//   (scalar neuron constants);
// - NSP's weight map, nspdi_rl.functional._NSPWeight, in one pass each way;
// - the no-grad forward of spiking MLPs (nspdi_rl.network._compiled_forward);
// - a pruned layer's product over the non-zero inputs (nspdi_rl.export).
//
// Each does the same arithmetic, in the same order, as the tensor code it replaces
// (the LIF loop's follows Norse), so the results are bit for bit the same; compiled
// with -ffp-contract=off so that no multiply-add is fused where the tensor code
// rounds twice. Where PyTorch's vectorised kernels fuse a multiply-add (add with
// alpha, in the LIF adjoint), std::fma does the same.
#include <torch/extension.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>
#include <vector>

namespace {

void check(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be on the CPU");
  TORCH_CHECK(t.scalar_type() == torch::kFloat32, name, " must be float32");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

// One step of the forward loop over n neurons. KEEP: store the membrane before the
// reset; LEAK: v_leak != 0. Both are template arguments so that the loop has no
// branch, and the arrays never overlap (__restrict__), so the compiler vectorises it
// (the reset is a blend).
// REDUCE: instead of storing the spikes (st), add them weighted by wt to the running
// sum in st: sum_t w_t z_t, what a linear readout from rest makes of them.
template <bool KEEP, bool LEAK, bool REDUCE>
void forward_step(const float* __restrict__ ct, float* __restrict__ vp, float* __restrict__ ip,
                  float* __restrict__ st, float* __restrict__ pt, int64_t n,
                  float m, float k, float leak, float th, float reset, float wt) {
  for (int64_t e = 0; e < n; ++e) {
    const float ie = ip[e] + ct[e];
    float step = LEAK ? (leak - vp[e]) : -vp[e];
    step = step + ie;
    const float ve = vp[e] + step * m;
    ip[e] = ie + ie * k;
    if (KEEP) pt[e] = ve;
    const bool fired = ve > th;
    if (REDUCE) st[e] = st[e] + (fired ? wt : 0.0f);
    else st[e] = fired ? 1.0f : 0.0f;
    vp[e] = fired ? reset : ve;
  }
}

template <bool KEEP, bool LEAK, bool REDUCE>
void forward_loop(const float* c, int64_t c_stride, float* vp, float* ip, float* sp,
                  float* pre, const float* w, int64_t T, int64_t n, float m, float k, float leak,
                  float th, float reset) {
  // time outside, neurons inside: each step is one pass over contiguous memory
  for (int64_t t = 0; t < T; ++t) {
    forward_step<KEEP, LEAK, REDUCE>(c + t * c_stride, vp, ip, REDUCE ? sp : sp + t * n,
                                     KEEP ? pre + t * n : nullptr, n, m, k, leak, th, reset,
                                     REDUCE ? w[t] : 0.0f);
  }
}

template <bool REDUCE>
void forward_dispatch(bool keep, bool leaky, const float* c, int64_t stride, float* vp,
                      float* ip, float* sp, float* pre, const float* w, int64_t T, int64_t n,
                      float m, float k, float leak, float th, float reset) {
  if (keep && leaky) forward_loop<true, true, REDUCE>(c, stride, vp, ip, sp, pre, w, T, n, m, k, leak, th, reset);
  else if (keep) forward_loop<true, false, REDUCE>(c, stride, vp, ip, sp, pre, w, T, n, m, k, leak, th, reset);
  else if (leaky) forward_loop<false, true, REDUCE>(c, stride, vp, ip, sp, pre, w, T, n, m, k, leak, th, reset);
  else forward_loop<false, false, REDUCE>(c, stride, vp, ip, sp, pre, w, T, n, m, k, leak, th, reset);
}

}  // namespace

// currents (T, ...) or, for an input that is the same at every step, (1, ...) with
// steps = T; v and i (...): returns spikes (steps, ...), the final v and i, and the
// membrane before each reset (steps, ...) when keep_v_pre (what backward needs).
// With reduce_weights (steps,) (empty: none) the first output is instead the spikes'
// weighted sum over time, sum_t w_t z_t (...), and the spikes are never stored
// (backward finds them again as v_pre > v_th, as the loop decides them).
std::vector<torch::Tensor> lif_forward(torch::Tensor currents, int64_t steps,
                                       torch::Tensor v0, torch::Tensor i0, double mem,
                                       double keep_i, double v_leak, double v_th,
                                       double v_reset, bool keep_v_pre,
                                       torch::Tensor reduce_weights) {
  check(currents, "currents");
  check(v0, "v");
  check(i0, "i");
  const int64_t T = steps;
  const int64_t n = v0.numel();
  TORCH_CHECK(T >= 0, "steps must be >= 0");
  TORCH_CHECK(currents.dim() >= 1 && (currents.size(0) == T || currents.size(0) == 1),
              "currents must be (steps, *v.shape) or (1, *v.shape)");
  TORCH_CHECK(currents.numel() == currents.size(0) * n, "currents must be (T, *v.shape)");
  const bool reduce = reduce_weights.numel() > 0;
  if (reduce) {
    check(reduce_weights, "reduce_weights");
    TORCH_CHECK(reduce_weights.dim() == 1 && reduce_weights.size(0) == T,
                "reduce_weights must be (steps,)");
  }
  auto v = v0.clone();
  auto i = i0.clone();
  std::vector<int64_t> shape{T};
  for (auto d : v0.sizes()) shape.push_back(d);
  auto spikes = reduce ? torch::zeros_like(v0) : torch::empty(shape, currents.options());
  auto v_pre = keep_v_pre ? torch::empty(shape, currents.options())
                          : torch::empty({0}, currents.options());
  const float m = static_cast<float>(mem), k = static_cast<float>(keep_i);
  const float leak = static_cast<float>(v_leak), th = static_cast<float>(v_th);
  const float reset = static_cast<float>(v_reset);
  const int64_t stride = currents.size(0) == 1 ? 0 : n;
  const float* c = currents.data_ptr<float>();
  float* vp = v.data_ptr<float>();
  float* ip = i.data_ptr<float>();
  float* sp = spikes.data_ptr<float>();
  float* pre = keep_v_pre ? v_pre.data_ptr<float>() : nullptr;
  const bool leaky = leak != 0.0f;
  if (reduce) {
    forward_dispatch<true>(keep_v_pre, leaky, c, stride, vp, ip, sp, pre,
                           reduce_weights.data_ptr<float>(), T, n, m, k, leak, th, reset);
  } else {
    forward_dispatch<false>(keep_v_pre, leaky, c, stride, vp, ip, sp, pre, nullptr, T, n, m, k,
                            leak, th, reset);
  }
  return {spikes, v, i, v_pre};
}

namespace {

// One step of the adjoint over n neurons; GS: a gradient flows into the spikes.
// Vectorised like forward_step (without __restrict__ the six arrays need more
// run-time overlap checks than the compiler makes, and it stays scalar).
// REDUCE: the spikes were summed over time with weight wt at this step (lif_forward's
// reduce_weights): they are found again as pt > th, and the gradient flowing into them
// is wt times the sum's gradient gst, the product the sum's own backward would form.
template <bool GS, bool REDUCE>
void backward_step(const float* __restrict__ pt, const float* __restrict__ st,
                   const float* __restrict__ gst, float* __restrict__ gct, float* __restrict__ ov,
                   float* __restrict__ oi, int64_t n, float m, float k, float th, float reset, float a,
                   float decay, float wt) {
  for (int64_t e = 0; e < n; ++e) {
    const float g_v = ov[e], g_i = oi[e];
    const float x = pt[e] - th;
    const float base = a * std::fabs(x) + 1.0f;
    const float surrogate = 1.0f / (base * base);
    float g_z = g_v * (reset - pt[e]);
    if (GS) g_z = g_z + (REDUCE ? wt * gst[e] : gst[e]);
    const float spike = REDUCE ? (pt[e] > th ? 1.0f : 0.0f) : st[e];
    float g_va = g_v * (1.0f - spike);
    g_va = g_va + g_z * surrogate;
    float g_ia = std::fma(k, g_i, g_i);  // torch.add(g_i, g_i, alpha=keep_i)
    g_ia = std::fma(m, g_va, g_ia);      // .add_(g_va, alpha=mem)
    gct[e] = g_ia;
    oi[e] = g_ia;
    ov[e] = g_va * decay;
  }
}

}  // namespace

// The adjoint with the SuperSpike surrogate 1 / (alpha |v - v_th| + 1)^2. grad_spikes,
// grad_v and grad_i may be empty (no gradient flows into them). With reduce_weights
// (steps,) the forward pass summed the spikes over time (lif_forward): spikes is then
// empty and grad_spikes is the gradient of that sum (...).
std::vector<torch::Tensor> lif_backward(torch::Tensor v_pre, torch::Tensor spikes,
                                        torch::Tensor grad_spikes, torch::Tensor grad_v,
                                        torch::Tensor grad_i, double mem, double keep_i,
                                        double v_th, double v_reset, double alpha,
                                        torch::Tensor reduce_weights) {
  check(v_pre, "v_pre");
  const bool reduce = reduce_weights.numel() > 0;
  const int64_t T = v_pre.size(0);
  const int64_t n = T > 0 ? v_pre.numel() / T : 0;
  if (reduce) {
    check(reduce_weights, "reduce_weights");
    TORCH_CHECK(reduce_weights.dim() == 1 && reduce_weights.size(0) == T,
                "reduce_weights must be (steps,)");
    TORCH_CHECK(grad_spikes.numel() == 0 || grad_spikes.numel() == n,
                "the gradient of the summed spikes must have one value per neuron");
  } else {
    check(spikes, "spikes");
  }
  const bool has_gs = grad_spikes.numel() > 0, has_gv = grad_v.numel() > 0;
  const bool has_gi = grad_i.numel() > 0;
  if (has_gs) check(grad_spikes, "grad_spikes");
  if (has_gv) check(grad_v, "grad_v");
  if (has_gi) check(grad_i, "grad_i");
  auto grad_currents = torch::empty_like(v_pre);
  auto out_v = has_gv ? grad_v.clone() : torch::zeros_like(v_pre[0]);
  auto out_i = has_gi ? grad_i.clone() : torch::zeros_like(v_pre[0]);
  const float m = static_cast<float>(mem), k = static_cast<float>(keep_i);
  const float th = static_cast<float>(v_th), reset = static_cast<float>(v_reset);
  const float a = static_cast<float>(alpha), decay = static_cast<float>(1.0 - mem);
  const float* pre = v_pre.data_ptr<float>();
  const float* sp = reduce ? nullptr : spikes.data_ptr<float>();
  const float* gs = has_gs ? grad_spikes.data_ptr<float>() : nullptr;
  const float* w = reduce ? reduce_weights.data_ptr<float>() : nullptr;
  float* gc = grad_currents.data_ptr<float>();
  float* ov = out_v.data_ptr<float>();
  float* oi = out_i.data_ptr<float>();
  for (int64_t t = T - 1; t >= 0; --t) {
    const float* pt = pre + t * n;
    float* gct = gc + t * n;
    if (reduce && has_gs) {
      backward_step<true, true>(pt, nullptr, gs, gct, ov, oi, n, m, k, th, reset, a, decay, w[t]);
    } else if (reduce) {
      backward_step<false, true>(pt, nullptr, nullptr, gct, ov, oi, n, m, k, th, reset, a, decay,
                                 0.0f);
    } else if (has_gs) {
      backward_step<true, false>(pt, sp + t * n, gs + t * n, gct, ov, oi, n, m, k, th, reset, a,
                                 decay, 0.0f);
    } else {
      backward_step<false, false>(pt, sp + t * n, nullptr, gct, ov, oi, n, m, k, th, reset, a,
                                  decay, 0.0f);
    }
  }
  return {grad_currents, out_v, out_i};
}

// The no-grad forward of spiking MLPs that share one input and their LIF neurons
// (nspdi_rl.network.forward_together's rollout path): the same ATen operations in
// the same order as the Python modules, so the outputs are bit for bit theirs, with
// one call from Python instead of some sixty.
//
// x (B, n_in): the input of one step, the same at every one of `steps` steps, coded
//   as nspdi_rl.network.Encoder.encode_static codes it: as it is (population_size
//   0) or by population_size Gaussian receptive fields per value over [low, high].
// layers[k]: network k's weights and biases, [W_0, b_0, ..., W_readout, b_readout];
//   W is (out, in), or (2 out, in) with V stacked under W where ndi[k][l]; an empty
//   bias is none.
// li_weights[k] (steps,), li_bias[k] (): the readout integrator as a weighted sum.
// Returns each network's output (B, n_outputs).
std::vector<torch::Tensor> mlp_forward(torch::Tensor x, int64_t population_size, double low,
                                       double high, torch::Tensor centres, int64_t steps,
                                       std::vector<std::vector<torch::Tensor>> layers,
                                       std::vector<std::vector<int64_t>> ndi,
                                       std::vector<torch::Tensor> li_weights,
                                       std::vector<torch::Tensor> li_bias, double mem,
                                       double keep_i, double v_leak, double v_th,
                                       double v_reset) {
  const size_t nets = layers.size();
  TORCH_CHECK(nets > 0 && ndi.size() == nets && li_weights.size() == nets &&
                  li_bias.size() == nets,
              "one entry per network in layers, ndi, li_weights and li_bias");
  const size_t depth = ndi[0].size();  // hidden layers + the readout
  TORCH_CHECK(depth >= 2, "at least one hidden layer");
  for (size_t k = 0; k < nets; ++k) {
    TORCH_CHECK(ndi[k].size() == depth && layers[k].size() == 2 * depth,
                "every network needs the same number of layers");
  }
  auto apply = [&](const torch::Tensor& x, size_t k, size_t l) {
    const auto& w = layers[k][2 * l];
    const auto& b = layers[k][2 * l + 1];
    torch::Tensor current;
    if (ndi[k][l] != 0) {
      auto parts = at::linear(x, w).chunk(2, -1);
      current = at::addcmul(parts[0], parts[0], parts[1]);
    } else {
      current = at::linear(x, w);
    }
    return b.numel() > 0 ? current + b : current;
  };
  auto encoded = x;
  if (population_size > 0) {
    const auto unit = (x - low) / (high - low);
    const double width = 1.0 / static_cast<double>(std::max<int64_t>(population_size - 1, 1));
    const auto act = at::exp(at::pow((unit.unsqueeze(-1) - centres) / width, 2) * -0.5);
    encoded = act.reshape({x.size(0), x.size(1) * population_size});
  }
  std::vector<torch::Tensor> hidden(nets, encoded);
  for (size_t l = 0; l + 1 < depth; ++l) {
    std::vector<torch::Tensor> currents;
    std::vector<int64_t> sizes;
    for (size_t k = 0; k < nets; ++k) {
      currents.push_back(apply(hidden[k], k, l));
      sizes.push_back(currents.back().size(-1));
    }
    auto joined = at::cat(currents, -1);
    // the first layer's current is the same at every step: (1, B, n) for all steps
    if (l == 0) joined = joined.unsqueeze(0);
    std::vector<int64_t> state_shape(joined.sizes().begin() + 1, joined.sizes().end());
    auto v0 = at::zeros(state_shape, joined.options()) + static_cast<float>(v_leak);
    auto i0 = at::zeros(state_shape, joined.options());
    auto spikes = lif_forward(joined.contiguous(), steps, v0, i0, mem, keep_i, v_leak, v_th,
                              v_reset, false, torch::empty({0}, joined.options()))[0];
    hidden = spikes.split_with_sizes(sizes, -1);
  }
  std::vector<torch::Tensor> outputs;
  for (size_t k = 0; k < nets; ++k) {
    auto current = apply(hidden[k], k, depth - 1);
    outputs.push_back(at::tensordot(li_weights[k], current, {0}, {0}) + li_bias[k]);
  }
  return outputs;
}

// NSP's effective weight w = s relu(a (m - d1)), then w = 0 where |w| < d2 (when
// d2 > 0): m = |theta| and s = sign(theta), or with fixed signs (Grad R) m = theta
// and s = fixed_sign. theta (out, ...), a (out,); fixed_sign empty or like theta.
// The same float operations in the same order as functional._NSPWeight; each row
// is one branch-free pass that the compiler vectorises (FIXED, CUT, ... are
// template arguments, the arrays never overlap).
namespace {

inline float sign_of(float t) {  // torch.sign: -1, 0 or 1 (NaN stays NaN)
  return t > 0.0f ? 1.0f : (t < 0.0f ? -1.0f : t);
}

inline float relu_of(float x) {  // torch.relu: NaN stays NaN
  return x < 0.0f ? 0.0f : x;
}

template <bool FIXED, bool CUT>
void nsp_forward_row(const float* __restrict__ theta, const float* __restrict__ fixed,
                     float* __restrict__ w, int64_t n, float a, float d1, float d2) {
  for (int64_t e = 0; e < n; ++e) {
    const float t = theta[e];
    const float s = FIXED ? fixed[e] : sign_of(t);
    const float shifted = (FIXED ? t : std::fabs(t)) - d1;
    float value = s * relu_of(a * shifted);
    if (CUT) value = value * ((shifted > 0.0f && std::fabs(value) >= d2) ? 1.0f : 0.0f);
    w[e] = value;
  }
}

template <bool FIXED, bool CUT, bool STRAIGHT, bool THETA, bool A>
void nsp_backward_row(const float* __restrict__ g, const float* __restrict__ theta,
                      const float* __restrict__ fixed, float* __restrict__ gt,
                      float* __restrict__ ct, int64_t n, float a, float d1, float d2) {
  for (int64_t e = 0; e < n; ++e) {
    const float t = theta[e];
    const float s = FIXED ? fixed[e] : sign_of(t);
    const float shifted = (FIXED ? t : std::fabs(t)) - d1;
    const float w = s * relu_of(a * shifted);
    const float live = (shifted > 0.0f && (!CUT || std::fabs(w) >= d2)) ? 1.0f : 0.0f;
    if (THETA) {
      float value = g[e] * a;
      if (FIXED) value = value * s;
      if (!STRAIGHT) value = value * live;
      gt[e] = value;
    }
    if (A) ct[e] = ((g[e] * s) * shifted) * live;
  }
}

struct NSPArgs {
  int64_t rows, cols;
  const float* theta;
  const float* a;
  const float* fixed;  // nullptr: s = sign(theta)
  float d1, d2;
};

NSPArgs nsp_args(const torch::Tensor& theta, const torch::Tensor& a, double d1, double d2,
                 const torch::Tensor& fixed_sign) {
  check(theta, "theta");
  check(a, "a");
  TORCH_CHECK(theta.dim() >= 1 && a.dim() == 1 && a.size(0) == theta.size(0),
              "a must have one value per output channel of theta");
  const bool fixed = fixed_sign.numel() > 0;
  if (fixed) {
    check(fixed_sign, "fixed_sign");
    TORCH_CHECK(fixed_sign.sizes() == theta.sizes(), "fixed_sign must have theta's shape");
  }
  const int64_t rows = theta.size(0);
  return NSPArgs{rows,
                 rows > 0 ? theta.numel() / rows : 0,
                 theta.data_ptr<float>(),
                 a.data_ptr<float>(),
                 fixed ? fixed_sign.data_ptr<float>() : nullptr,
                 static_cast<float>(d1),
                 static_cast<float>(d2)};
}

template <bool FIXED, bool CUT>
void nsp_forward_all(const NSPArgs& x, float* w) {
  for (int64_t r = 0; r < x.rows; ++r) {
    const int64_t o = r * x.cols;
    nsp_forward_row<FIXED, CUT>(x.theta + o, FIXED ? x.fixed + o : nullptr, w + o, x.cols,
                                x.a[r], x.d1, x.d2);
  }
}

template <bool FIXED, bool CUT, bool STRAIGHT, bool THETA, bool A>
void nsp_backward_all(const NSPArgs& x, const float* g, float* gt, float* ct) {
  for (int64_t r = 0; r < x.rows; ++r) {
    const int64_t o = r * x.cols;
    nsp_backward_row<FIXED, CUT, STRAIGHT, THETA, A>(
        g + o, x.theta + o, FIXED ? x.fixed + o : nullptr, THETA ? gt + o : nullptr,
        A ? ct + o : nullptr, x.cols, x.a[r], x.d1, x.d2);
  }
}

// The template instance for the run-time flags: a table indexed by the flags' bits.
using ForwardFn = void (*)(const NSPArgs&, float*);
using BackwardFn = void (*)(const NSPArgs&, const float*, float*, float*);

template <int... I>
constexpr std::array<ForwardFn, sizeof...(I)> forward_table(std::integer_sequence<int, I...>) {
  return {&nsp_forward_all<(I & 1) != 0, (I & 2) != 0>...};
}

template <int... I>
constexpr std::array<BackwardFn, sizeof...(I)> backward_table(
    std::integer_sequence<int, I...>) {
  return {&nsp_backward_all<(I & 1) != 0, (I & 2) != 0, (I & 4) != 0, (I & 8) != 0,
                            (I & 16) != 0>...};
}

constexpr auto kForward = forward_table(std::make_integer_sequence<int, 4>{});
constexpr auto kBackward = backward_table(std::make_integer_sequence<int, 32>{});

}  // namespace

torch::Tensor nsp_forward(torch::Tensor theta, torch::Tensor a, double d1, double d2,
                          torch::Tensor fixed_sign) {
  const NSPArgs x = nsp_args(theta, a, d1, d2, fixed_sign);
  auto w = torch::empty_like(theta);
  float* out = w.data_ptr<float>();
  kForward[(x.fixed != nullptr ? 1 : 0) | (x.d2 > 0.0f ? 2 : 0)](x, out);
  return w;
}

// Its backward (functional._NSPWeight.backward): grad_theta = grad_w a [s for fixed
// signs] [alive unless straight_through]; grad_a = the row sums of grad_w s shifted
// alive. An undefined result where it is not needed.
std::vector<torch::Tensor> nsp_backward(torch::Tensor grad_w, torch::Tensor theta,
                                        torch::Tensor a, double d1, double d2,
                                        torch::Tensor fixed_sign, bool straight_through,
                                        bool need_theta, bool need_a) {
  const NSPArgs x = nsp_args(theta, a, d1, d2, fixed_sign);
  check(grad_w, "grad_w");
  TORCH_CHECK(grad_w.sizes() == theta.sizes(), "grad_w must have theta's shape");
  torch::Tensor grad_theta, contrib, grad_a;
  if (need_theta) grad_theta = torch::empty_like(theta);
  if (need_a) contrib = torch::empty_like(theta);
  const float* g = grad_w.data_ptr<float>();
  float* gt = need_theta ? grad_theta.data_ptr<float>() : nullptr;
  float* ct = need_a ? contrib.data_ptr<float>() : nullptr;
  kBackward[(x.fixed != nullptr ? 1 : 0) | (x.d2 > 0.0f ? 2 : 0) | (straight_through ? 4 : 0) |
            (need_theta ? 8 : 0) | (need_a ? 16 : 0)](x, g, gt, ct);
  // the row sums by torch's own reduction, as the tensor operations take them
  if (need_a) grad_a = contrib.reshape({x.rows, -1}).sum(1);
  return {grad_theta, grad_a};
}

// A pruned weight in compressed form (CSR of W, or of W^T for the columns): int32
// pointers and indices, contiguous, and one value per index.
void check_compressed(const torch::Tensor& ptr, const torch::Tensor& index,
                      const torch::Tensor& values, const char* what) {
  check(values, "values");
  TORCH_CHECK(ptr.scalar_type() == torch::kInt32 && index.scalar_type() == torch::kInt32 &&
                  ptr.is_contiguous() && index.is_contiguous(),
              what, ": pointers and indices must be contiguous int32");
  TORCH_CHECK(index.numel() == values.numel(), what,
              ": one index and one value per non-zero");
}

// y (M, out) = x (M, in) W^T for a pruned W given by its columns (CSC: col_ptr
// (in + 1), rows and values of the non-zeros, int32 indices), visiting only the
// non-zero inputs: with spikes for inputs and few synapses left, a row costs
// (active inputs) x (synapses per input) multiply-adds instead of in x out.
// The accumulation order differs from a dense matmul's (float rounding).
torch::Tensor event_matmul(torch::Tensor x, torch::Tensor col_ptr, torch::Tensor rows,
                           torch::Tensor values, int64_t out_features) {
  check(x, "x");
  TORCH_CHECK(x.dim() == 2, "x must be (M, in)");
  check_compressed(col_ptr, rows, values, "W's columns");
  const int64_t M = x.size(0), in = x.size(1);
  TORCH_CHECK(col_ptr.numel() == in + 1, "col_ptr must have in + 1 entries");
  auto y = torch::zeros({M, out_features}, x.options());
  const float* xp = x.data_ptr<float>();
  const int32_t* cp = col_ptr.data_ptr<int32_t>();
  const int32_t* rp = rows.data_ptr<int32_t>();
  const float* vp = values.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, M, 1, [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m) {
      const float* xr = xp + m * in;
      float* __restrict__ yr = yp + m * out_features;
      for (int64_t i = 0; i < in; ++i) {
        const float xi = xr[i];
        if (xi == 0.0f) continue;
        const int32_t stop = cp[i + 1];
        // the rows of one column are distinct: no two iterations write one element
#pragma GCC ivdep
        for (int32_t q = cp[i]; q < stop; ++q) yr[rp[q]] += xi * vp[q];
      }
    }
  });
  return y;
}

// A pruned layer's current for a tile of input rows, written straight into the
// (M, out) layout that the next LIF loop reads: W (and V, for NDI) given by their rows
// (CSR: row_ptr, cols and values, int32 indices). The tile of kTile rows is transposed
// once into (in, kTile), so each synapse (k, j, w) is one multiply-add of kTile
// contiguous values held in registers; a synapse is read once per tile instead of once
// per row, and no (out, M) result is copied back as after torch's CSR product. Each row
// sums its synapses in two interleaved chains (even and odd positions, added at the
// end) so that consecutive additions do not wait on each other; NDI's
// I = Wx + (Wx)(Vx) and the bias follow in the tile, as CompressedLinear combines them.
template <int64_t kTile>
inline void row_sum(const float* xtp, const int32_t* cp, const float* vp, int32_t begin,
                    int32_t end, float* out) {
  float even[kTile] = {}, odd[kTile] = {};
  int32_t q = begin;
  for (; q + 1 < end; q += 2) {
    const float w0 = vp[q], w1 = vp[q + 1];
    const float* x0 = xtp + static_cast<int64_t>(cp[q]) * kTile;
    const float* x1 = xtp + static_cast<int64_t>(cp[q + 1]) * kTile;
    for (int64_t r = 0; r < kTile; ++r) {
      even[r] += w0 * x0[r];
      odd[r] += w1 * x1[r];
    }
  }
  if (q < end) {
    const float w0 = vp[q];
    const float* x0 = xtp + static_cast<int64_t>(cp[q]) * kTile;
    for (int64_t r = 0; r < kTile; ++r) even[r] += w0 * x0[r];
  }
  for (int64_t r = 0; r < kTile; ++r) out[r] = even[r] + odd[r];
}

template <int64_t kTile>
void csr_tiles(const float* xp, const int32_t* rp, const int32_t* cp, const float* vp,
               const float* bias, bool ndi, float* yp, int64_t M, int64_t in, int64_t out,
               int64_t begin, int64_t end) {
  std::vector<float> xt(static_cast<size_t>(in * kTile));
  for (int64_t tile = begin; tile < end; ++tile) {
    const int64_t m0 = tile * kTile, rows = std::min(kTile, M - m0);
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = xp + (m0 + r) * in;
      for (int64_t j = 0; j < in; ++j) xt[j * kTile + r] = xr[j];
    }
    for (int64_t r = rows; r < kTile; ++r)  // the last tile's missing rows
      for (int64_t j = 0; j < in; ++j) xt[j * kTile + r] = 0.0f;
    const float* xtp = xt.data();
    for (int64_t k = 0; k < out; ++k) {
      float wx[kTile], vx[kTile];
      row_sum<kTile>(xtp, cp, vp, rp[k], rp[k + 1], wx);
      if (ndi) {
        row_sum<kTile>(xtp, cp, vp, rp[out + k], rp[out + k + 1], vx);
        for (int64_t r = 0; r < kTile; ++r) wx[r] = wx[r] + wx[r] * vx[r];
      }
      if (bias != nullptr)
        for (int64_t r = 0; r < kTile; ++r) wx[r] = wx[r] + bias[k];
      for (int64_t r = 0; r < rows; ++r) yp[(m0 + r) * out + k] = wx[r];
    }
  }
}

torch::Tensor csr_tile_matmul(torch::Tensor x, torch::Tensor row_ptr, torch::Tensor cols,
                              torch::Tensor values, c10::optional<torch::Tensor> bias,
                              bool ndi) {
  check(x, "x");
  TORCH_CHECK(x.dim() == 2, "x must be (M, in)");
  check_compressed(row_ptr, cols, values, "W's rows");
  const int64_t rows = row_ptr.numel() - 1;
  TORCH_CHECK(rows >= 0 && (!ndi || rows % 2 == 0), "row_ptr must have rows + 1 entries, "
              "an even number of rows (W over V) for NDI");
  const int64_t M = x.size(0), in = x.size(1), out = ndi ? rows / 2 : rows;
  const float* bp = nullptr;
  if (bias.has_value() && bias->defined()) {
    check(*bias, "bias");
    TORCH_CHECK(bias->numel() == out, "bias must have one entry per output");
    bp = bias->data_ptr<float>();
  }
  auto y = torch::empty({M, out}, x.options());
  constexpr int64_t kTile = 16;
  const float* xp = x.data_ptr<float>();
  const int32_t* rp = row_ptr.data_ptr<int32_t>();
  const int32_t* cp = cols.data_ptr<int32_t>();
  const float* vp = values.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, (M + kTile - 1) / kTile, 1, [&](int64_t begin, int64_t end) {
    csr_tiles<kTile>(xp, rp, cp, vp, bp, ndi, yp, M, in, out, begin, end);
  });
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lif_forward", &lif_forward, "LIF time loop, forward (float32, CPU)");
  m.def("lif_backward", &lif_backward, "LIF time loop, backward with SuperSpike (float32, CPU)");
  m.def("nsp_forward", &nsp_forward, "NSP's effective weight (float32, CPU)");
  m.def("nsp_backward", &nsp_backward, "NSP's weight map, backward (float32, CPU)");
  m.def("event_matmul", &event_matmul, "x W^T over x's non-zeros and W's (CSC)");
  m.def("csr_tile_matmul", &csr_tile_matmul, "a pruned layer's current (x W^T, NDI, bias) over W's rows (CSR), x in row tiles");
  m.def("mlp_forward", &mlp_forward, "no-grad forward of spiking MLPs sharing input and neurons");
}
