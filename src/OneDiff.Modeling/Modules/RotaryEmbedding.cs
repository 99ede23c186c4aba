using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

/// <summary>Rotary position embedding with the checkpoint's base (theta): cos and sin per
/// position, computed in fp32 and cast to the activations' dtype.</summary>
public sealed class RotaryEmbedding
{
    readonly double _theta;
    readonly int _dim;
    readonly object _gate = new();
    Tensor? _invFreq; // on the device of the last call: building it copies theta from the host, a sync on CUDA

    public RotaryEmbedding(int headDim, double theta) { _dim = headDim; _theta = theta; }

    /// <returns>(cos, sin), each (B, T, headDim).</returns>
    public (Tensor Cos, Tensor Sin) Compute(Tensor positionIds, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var device = positionIds.device;
        var freqs = positionIds.to(ScalarType.Float32).unsqueeze(-1) * InverseFrequencies(device).view(1, 1, -1);
        var emb = torch.cat([freqs, freqs], -1);
        return (emb.cos().to(dtype).MoveToOuterDisposeScope(), emb.sin().to(dtype).MoveToOuterDisposeScope());
    }

    Tensor InverseFrequencies(Device device)
    {
        lock (_gate)
        {
            if (_invFreq is { } cached && cached.device.ToString() == device.ToString()) return cached;
            using var scope = torch.NewDisposeScope();
            var exponents = torch.arange(Scalars.Of(0L), Scalars.Of((long)_dim), Scalars.Of(2L), ScalarType.Int64, device).to(ScalarType.Float32).div(Scalars.Of((long)_dim));
            var invFreq = torch.pow(torch.tensor(_theta, device: device), exponents).reciprocal().DetachFromDisposeScope();
            _invFreq?.Dispose();
            return _invFreq = invFreq;
        }
    }

    /// <summary>x * cos + rotate_half(x) * sin, for x (B, heads, T, headDim).</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = torch.NewDisposeScope();
        long half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        var rotated = torch.cat([-x2, x1], -1);
        return (x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1)).MoveToOuterDisposeScope();
    }
}
