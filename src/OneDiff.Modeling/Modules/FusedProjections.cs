using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

/// <summary>
/// Linear layers that read the same input (q/k/v, gate/up) with their weights, and biases, made
/// views of one buffer, so that inference runs them as one matrix product: one kernel instead of
/// two or three per layer and generated token, and a wider product. The layers keep their own
/// parameters, so checkpoint names, loading, saving and optimizers see nothing different; only the
/// storage is shared. A pass that records gradients takes the separate products (a product with
/// the buffer would give the gradient to the buffer, not to the parameters), and so does the
/// forward pass of a checkpointed layer, which must match its recomputation exactly.
/// </summary>
public sealed class FusedProjections : IDisposable
{
    [ThreadStatic] static int t_suspended;

    readonly Linear[] _parts;
    Tensor? _weight, _bias;
    Tensor[] _weightViews = [];
    Tensor?[] _biasViews = [];

    public FusedProjections(params Linear[] parts)
    {
        _parts = parts;
        Fuse();
    }

    /// <summary>True while every part's parameters are still the views made by <see cref="Fuse"/>
    /// (a move to another device or dtype gives them storage of their own until the next Fuse).</summary>
    public bool Intact
    {
        get
        {
            if (_weight is null) return false;
            for (int i = 0; i < _parts.Length; i++)
            {
                // A move replaces the Parameter objects (TorchSharp); set_ kept the same ones.
                if (!ReferenceEquals(_parts[i].weight, _weightViews[i])) return false;
                if (_bias is not null && !ReferenceEquals(_parts[i].bias, _biasViews[i])) return false;
            }
            return true;
        }
    }

    /// <summary>Copies the parts' current weights into one new buffer and points their parameters
    /// at views of it (the same Parameter objects: <c>set_</c>); leaves them apart where they
    /// differ in device or dtype, or only some have a bias. Nothing to do while still intact (a
    /// move to where the parameters already are).</summary>
    public void Fuse()
    {
        if (Intact) return;
        _weight?.Dispose(); _bias?.Dispose();
        _weight = _bias = null;
        var weights = _parts.Select(p => p.weight!).ToArray();
        var biases = _parts.Select(p => (Tensor?)p.bias).ToArray();
        bool sameKind = weights.All(w => w.dtype == weights[0].dtype && w.device.ToString() == weights[0].device.ToString());
        bool allBiases = biases.All(b => b is not null), noBiases = biases.All(b => b is null);
        if (!sameKind || !(allBiases || noBiases)) return;
        using var noGrad = torch.no_grad();
        _weight = Share(weights);
        _weightViews = weights;
        if (allBiases) _bias = Share(biases!);
        _biasViews = biases;
    }

    static Tensor Share(Tensor[] parts)
    {
        var buffer = torch.cat(parts, 0).DetachFromDisposeScope();
        long offset = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            long rows = parts[i].shape[0];
            using (var view = buffer.narrow(0, offset, rows)) parts[i].set_(view);
            offset += rows;
        }
        return buffer;
    }

    /// <summary>The shared buffers (all parts' weights, and biases or null, stacked by output row)
    /// while <see cref="Intact"/>.</summary>
    internal Tensor? Weight => Intact ? _weight : null;
    internal Tensor? Bias => Intact ? _bias : null;

    /// <summary>All parts' outputs side by side, (..., sum of out features), from one product; null
    /// where this pass must take them one by one (gradients recorded, a checkpointed forward, or
    /// the views no longer intact).</summary>
    public Tensor? TryForward(Tensor x)
    {
        if (t_suspended > 0 || !KernelChoices.FusedProjections || torch.is_grad_enabled() || !Intact) return null;
        return nn.functional.linear(x, _weight!, _bias);
    }

    /// <summary>Separate products on this thread until disposed: for a forward pass whose result a
    /// later recomputation (with gradients) must reproduce bit for bit.</summary>
    public static IDisposable Suspend() => new Suspension();

    sealed class Suspension : IDisposable
    {
        bool _done;
        public Suspension() => t_suspended++;
        public void Dispose() { if (!_done) { _done = true; t_suspended--; } }
    }

    public void Dispose()
    {
        _weight?.Dispose(); _bias?.Dispose();
        _weight = _bias = null;
    }
}
