using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Training;

/// <summary>
/// AdamW with named parameter groups (each with its own learning rate), its state kept on the
/// parameters' device, and saved/loaded by parameter name so a run resumes exactly.
/// </summary>
public sealed class AdamW : IDisposable
{
    public sealed record Group(string Name, double LearningRate, IReadOnlyList<(string Name, Parameter Parameter)> Parameters);

    readonly List<Group> _groups;
    readonly Dictionary<string, (Tensor M, Tensor V)> _state = new(StringComparer.Ordinal);
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    public double WeightDecay { get; init; }
    public long Step { get; private set; }
    public IReadOnlyList<Group> Groups => _groups;

    public AdamW(IEnumerable<Group> groups) => _groups = groups.ToList();

    /// <summary>One update; <paramref name="lrScale"/> is the schedule's factor.</summary>
    public void Update(double lrScale)
    {
        Step++;
        double bc1 = 1 - Math.Pow(Beta1, Step), bc2 = 1 - Math.Pow(Beta2, Step);
        using var noGrad = torch.no_grad();
        foreach (var g in _groups)
        {
            double lr = g.LearningRate * lrScale;
            foreach (var (name, p) in g.Parameters)
            {
                var grad = p.grad;
                if (grad is null) continue;
                if (!_state.TryGetValue(name, out var s))
                {
                    s = (torch.zeros_like(p).DetachFromDisposeScope(), torch.zeros_like(p).DetachFromDisposeScope());
                    _state[name] = s;
                }
                using var scope = torch.NewDisposeScope();
                // Scalars disposed here, not by the finalizer (Modules.Scalars says why).
                using var decay = (1 - lr * WeightDecay).ToScalar();
                using var stepSize = (-lr / bc1).ToScalar();
                using var correction = Math.Sqrt(bc2).ToScalar();
                if (WeightDecay != 0) p.mul_(decay);
                s.M.mul_(Scalars.Of(Beta1)).add_(grad, alpha: Scalars.Of(1 - Beta1));
                s.V.mul_(Scalars.Of(Beta2)).addcmul_(grad, grad, value: Scalars.Of(1 - Beta2));
                var denom = s.V.sqrt().div_(correction).add_(Scalars.Of(Epsilon));
                p.addcdiv_(s.M, denom, value: stepSize);
            }
        }
    }

    public void ZeroGrad()
    {
        foreach (var g in _groups) foreach (var (_, p) in g.Parameters) p.grad = null;
    }

    /// <summary>Writes the moments (by parameter name) and the step.</summary>
    public void Save(string path)
    {
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var (name, (m, v)) in _state.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            tensors.Add(new($"{name}.exp_avg", m));
            tensors.Add(new($"{name}.exp_avg_sq", v));
        }
        SafetensorsWriter.Save(path, tensors, new Dictionary<string, string> { ["step"] = Step.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    public void Load(string path)
    {
        using var f = SafetensorsFile.Open(path);
        Step = long.Parse(f.Metadata.GetValueOrDefault("step") ?? throw new InvalidDataException($"{path}: no step in the optimizer state"), System.Globalization.CultureInfo.InvariantCulture);
        foreach (var g in _groups)
            foreach (var (name, p) in g.Parameters)
            {
                if (!f.Contains($"{name}.exp_avg")) continue;
                var m = torch.zeros_like(p).DetachFromDisposeScope();
                var v = torch.zeros_like(p).DetachFromDisposeScope();
                f.ReadInto($"{name}.exp_avg", m);
                f.ReadInto($"{name}.exp_avg_sq", v);
                if (_state.Remove(name, out var old)) { old.M.Dispose(); old.V.Dispose(); }
                _state[name] = (m, v);
            }
    }

    public void Dispose()
    {
        foreach (var (m, v) in _state.Values) { m.Dispose(); v.Dispose(); }
        _state.Clear();
    }
}

/// <summary>Linear warm-up over the first fraction of steps, then cosine decay to zero.</summary>
public static class LearningRateSchedule
{
    public static double Scale(long step, long totalSteps, double warmupFraction)
    {
        long warmup = (long)Math.Ceiling(totalSteps * warmupFraction);
        if (step < warmup) return (step + 1.0) / warmup;
        double progress = totalSteps <= warmup ? 1 : (double)(step - warmup) / Math.Max(1, totalSteps - warmup);
        return 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress)));
    }
}
