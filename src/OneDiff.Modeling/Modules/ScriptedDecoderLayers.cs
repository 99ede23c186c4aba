using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

/// <summary>
/// One generated token through every decoder layer in a single call into libtorch: the same
/// operations, in the same order, as <see cref="LlamaDecoderLayer"/> with a KV cache, fused q/k/v
/// and gate/up products and no LoRA, so the numbers are the same bit for bit; only the host work
/// differs. Decoding a 7B model at batch 16 does too little per operation to hide the host: each
/// TorchSharp call (a managed tensor, a dispose scope, a P/Invoke) costs microseconds, and one
/// token is about 30 of them per layer. Here the TorchScript interpreter walks the layers instead
/// (as <see cref="Training.ForeachKernels"/> reaches libtorch's multi-tensor kernels).
/// See <see cref="KernelChoices.ScriptedDecoding"/>.
/// </summary>
static class ScriptedDecoderLayers
{
    // Our own TorchScript. x: (B, 1, hidden); cos/sin: (B, 1, 1, headDim) (RotaryEmbedding.Compute);
    // mask: an additive (B, 1, 1, past + 1) key mask or None; keys/values: each layer's cache
    // buffer (B, kvHeads, capacity, headDim), written at `past`. qkv_biases is empty where the
    // model has none; a bias is added after the product, as TorchSharp's linear does (libtorch's
    // C++ linear; aten::linear, which PyTorch calls, adds it inside the product for 3-D inputs,
    // which rounds differently in bf16). The element-wise RMSNorm is RmsNorm's, op for op.
    const string Script = """
        def rms_norm(x: Tensor, weight: Tensor, eps: float, fused: bool) -> Tensor:
            if fused:
                return torch.rms_norm(x, [x.size(-1)], weight, eps)
            h = x.float()
            h = h * torch.rsqrt(h.pow(2).mean([-1], keepdim=True) + eps)
            if h.dtype != x.dtype:
                h = h.to(x.dtype)
            return weight * h

        def decode(x: Tensor, cos: Tensor, sin: Tensor, mask: Optional[Tensor], past: int, eps: float, fused_norm: bool,
                   input_norms: List[Tensor], qkv_weights: List[Tensor], qkv_biases: List[Tensor], o_weights: List[Tensor],
                   post_norms: List[Tensor], gate_up_weights: List[Tensor], down_weights: List[Tensor],
                   keys: List[Tensor], values: List[Tensor]) -> Tensor:
            b = x.size(0)
            head_dim = cos.size(-1)
            kv_heads = keys[0].size(1)
            heads = qkv_weights[0].size(0) // head_dim - 2 * kv_heads
            groups = heads // kv_heads
            for i in range(len(qkv_weights)):
                h = rms_norm(x, input_norms[i], eps, fused_norm)
                qkv = torch.linear(h, qkv_weights[i])
                if len(qkv_biases) > 0:
                    qkv = qkv + qkv_biases[i]
                projected = qkv.view([b, 1, heads + 2 * kv_heads, head_dim])
                qk = projected.narrow(2, 0, heads + kv_heads)
                qk = qk * cos + torch.roll(qk, [head_dim // 2], [-1]) * sin
                q = qk.narrow(2, 0, heads).transpose(1, 2)
                k = qk.narrow(2, heads, kv_heads).transpose(1, 2)
                v = projected.narrow(2, heads + kv_heads, kv_heads).transpose(1, 2)
                keys[i].narrow(2, past, 1).copy_(k)
                values[i].narrow(2, past, 1).copy_(v)
                cached_k = keys[i].narrow(2, 0, past + 1)
                cached_v = values[i].narrow(2, 0, past + 1)
                if groups > 1:
                    o = torch.scaled_dot_product_attention(q.reshape([b, kv_heads, groups, head_dim]), cached_k, cached_v, mask)
                else:
                    o = torch.scaled_dot_product_attention(q, cached_k, cached_v, mask)
                x = x + torch.linear(o.reshape([b, 1, heads * head_dim]), o_weights[i])
                h = rms_norm(x, post_norms[i], eps, fused_norm)
                gate_up = torch.linear(h, gate_up_weights[i])
                n = gate_up.size(-1) // 2
                x = x + torch.linear(torch.silu(gate_up.narrow(-1, 0, n)) * gate_up.narrow(-1, n, n), down_weights[i])
            return x
        """;

    static readonly Lazy<jit.CompilationUnit> Unit = new(() => jit.compile(Script + "\n"));

    /// <summary>The layers' weights as the script takes them, one list per kind.</summary>
    public sealed record Weights(Tensor[] InputNorms, Tensor[] QkvWeights, Tensor[] QkvBiases, Tensor[] OWeights,
        Tensor[] PostNorms, Tensor[] GateUpWeights, Tensor[] DownWeights);

    /// <summary>Runs x (B, 1, hidden) through every layer, writing each layer's key and value at
    /// position <paramref name="past"/> of <paramref name="keys"/> / <paramref name="values"/>;
    /// returns the last layer's output (B, 1, hidden).</summary>
    public static Tensor Decode(Tensor x, Tensor cos, Tensor sin, Tensor? mask, int past, double eps, bool fusedNorm,
        Weights w, Tensor[] keys, Tensor[] values)
    {
        // Numbers go in as scalars owned here until the call returns (see ForeachKernels.AdamW).
        using Scalar pastValue = ((long)past).ToScalar(), epsValue = eps.ToScalar();
        return Unit.Value.invoke<Tensor>("decode", x, cos, sin, mask!, pastValue, epsValue, fusedNorm,
            w.InputNorms, w.QkvWeights, w.QkvBiases, w.OWeights, w.PostNorms, w.GateUpWeights, w.DownWeights, keys, values);
    }
}
