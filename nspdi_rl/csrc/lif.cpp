// The LIF time loop of nspdi_rl.functional._LIFSequence in C++: one pass over the
// neurons, each running its T steps in registers, instead of ~7 tensor operations
// per step. Float32 on the CPU, scalar neuron constants.
//
// Same arithmetic, in the same order, as the Python loop (which follows Norse), so
// the spikes and states are bit for bit the same; compiled with -ffp-contract=off so
// that no multiply-add is fused where the Python loop rounds twice. The backward
// pass is the Python loop's adjoint; where PyTorch's vectorised kernels fuse a
// multiply-add (add with alpha), std::fma does the same.
#include <torch/extension.h>

#include <cmath>
#include <vector>

namespace {

void check(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be on the CPU");
  TORCH_CHECK(t.scalar_type() == torch::kFloat32, name, " must be float32");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

}  // namespace

// currents (T, ...), v and i (...): returns spikes (T, ...), the final v and i, and
// the membrane before each reset (T, ...) when keep_v_pre (what backward needs).
std::vector<torch::Tensor> lif_forward(torch::Tensor currents, torch::Tensor v0,
                                       torch::Tensor i0, double mem, double keep_i,
                                       double v_leak, double v_th, double v_reset,
                                       bool keep_v_pre) {
  check(currents, "currents");
  check(v0, "v");
  check(i0, "i");
  const int64_t T = currents.size(0);
  const int64_t n = v0.numel();
  TORCH_CHECK(currents.numel() == T * n, "currents must be (T, *v.shape)");
  auto v = v0.clone();
  auto i = i0.clone();
  auto spikes = torch::empty_like(currents);
  auto v_pre = keep_v_pre ? torch::empty_like(currents) : torch::empty({0}, currents.options());
  const float m = static_cast<float>(mem), k = static_cast<float>(keep_i);
  const float leak = static_cast<float>(v_leak), th = static_cast<float>(v_th);
  const float reset = static_cast<float>(v_reset);
  const float* c = currents.data_ptr<float>();
  float* vp = v.data_ptr<float>();
  float* ip = i.data_ptr<float>();
  float* sp = spikes.data_ptr<float>();
  float* pre = keep_v_pre ? v_pre.data_ptr<float>() : nullptr;
  // time outside, neurons inside: each step is one pass over contiguous memory that
  // the compiler vectorises (the reset is a blend)
  for (int64_t t = 0; t < T; ++t) {
    const float* ct = c + t * n;
    float* st = sp + t * n;
    float* pt = pre != nullptr ? pre + t * n : nullptr;
    for (int64_t e = 0; e < n; ++e) {
      float ie = ip[e] + ct[e];
      float step = (leak != 0.0f) ? (leak - vp[e]) : -vp[e];
      step = step + ie;
      const float ve = vp[e] + step * m;
      ip[e] = ie + ie * k;
      if (pt != nullptr) pt[e] = ve;
      const bool fired = ve > th;
      st[e] = fired ? 1.0f : 0.0f;
      vp[e] = fired ? reset : ve;
    }
  }
  return {spikes, v, i, v_pre};
}

// The adjoint with the SuperSpike surrogate 1 / (alpha |v - v_th| + 1)^2. grad_spikes,
// grad_v and grad_i may be empty (no gradient flows into them).
std::vector<torch::Tensor> lif_backward(torch::Tensor v_pre, torch::Tensor spikes,
                                        torch::Tensor grad_spikes, torch::Tensor grad_v,
                                        torch::Tensor grad_i, double mem, double keep_i,
                                        double v_th, double v_reset, double alpha) {
  check(v_pre, "v_pre");
  check(spikes, "spikes");
  const int64_t T = v_pre.size(0);
  const int64_t n = T > 0 ? v_pre.numel() / T : 0;
  const bool has_gs = grad_spikes.numel() > 0, has_gv = grad_v.numel() > 0;
  const bool has_gi = grad_i.numel() > 0;
  if (has_gs) check(grad_spikes, "grad_spikes");
  if (has_gv) check(grad_v, "grad_v");
  if (has_gi) check(grad_i, "grad_i");
  auto grad_currents = torch::empty_like(v_pre);
  auto out_v = torch::empty_like(v_pre[0]);
  auto out_i = torch::empty_like(v_pre[0]);
  const float m = static_cast<float>(mem), k = static_cast<float>(keep_i);
  const float th = static_cast<float>(v_th), reset = static_cast<float>(v_reset);
  const float a = static_cast<float>(alpha), decay = static_cast<float>(1.0 - mem);
  const float* pre = v_pre.data_ptr<float>();
  const float* sp = spikes.data_ptr<float>();
  const float* gs = has_gs ? grad_spikes.data_ptr<float>() : nullptr;
  const float* gv0 = has_gv ? grad_v.data_ptr<float>() : nullptr;
  const float* gi0 = has_gi ? grad_i.data_ptr<float>() : nullptr;
  float* gc = grad_currents.data_ptr<float>();
  float* ov = out_v.data_ptr<float>();
  float* oi = out_i.data_ptr<float>();
  for (int64_t e = 0; e < n; ++e) {
    ov[e] = gv0 ? gv0[e] : 0.0f;
    oi[e] = gi0 ? gi0[e] : 0.0f;
  }
  for (int64_t t = T - 1; t >= 0; --t) {
    const float* pt = pre + t * n;
    const float* st = sp + t * n;
    const float* gst = gs != nullptr ? gs + t * n : nullptr;
    float* gct = gc + t * n;
    for (int64_t e = 0; e < n; ++e) {
      const float g_v = ov[e], g_i = oi[e];
      const float x = pt[e] - th;
      const float base = a * std::fabs(x) + 1.0f;
      const float surrogate = 1.0f / (base * base);
      float g_z = g_v * (reset - pt[e]);
      if (gst != nullptr) g_z = g_z + gst[e];
      float g_va = g_v * (1.0f - st[e]);
      g_va = g_va + g_z * surrogate;
      float g_ia = std::fma(k, g_i, g_i);  // torch.add(g_i, g_i, alpha=keep_i)
      g_ia = std::fma(m, g_va, g_ia);      // .add_(g_va, alpha=mem)
      gct[e] = g_ia;
      oi[e] = g_ia;
      ov[e] = g_va * decay;
    }
  }
  return {grad_currents, out_v, out_i};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lif_forward", &lif_forward, "LIF time loop, forward (float32, CPU)");
  m.def("lif_backward", &lif_backward, "LIF time loop, backward with SuperSpike (float32, CPU)");
}
