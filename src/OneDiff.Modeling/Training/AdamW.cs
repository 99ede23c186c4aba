using OneDiff.Modeling.Checkpoints;
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

    /// <summary>One update; <paramref name="lrScale"/> is the schedule's factor. Each group's
    /// tensors of one device and dtype go through libtorch's fused AdamW kernel together (as
    /// PyTorch's <c>fused=True</c>): a few launches per step, no read-back to the host.</summary>
    public void Update(double lrScale)
    {
        Step++;
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        using var stepValue = ((double)Step).ToScalar(); // disposed here: Modules.Scalars says why
        var steps = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var g in _groups)
        {
            var live = g.Parameters.Select(t => (t.Name, t.Parameter, Grad: t.Parameter.grad)).Where(t => t.Grad is not null);
            foreach (var bucket in live.GroupBy(t => (Device: t.Parameter.device.ToString(), t.Parameter.dtype)))
            {
                var items = bucket.ToList();
                if (!steps.TryGetValue(bucket.Key.Device, out var step))
                    steps[bucket.Key.Device] = step = torch.full([], stepValue, ScalarType.Float32, items[0].Parameter.device);
                var states = items.Select(i => State(i.Name, i.Parameter)).ToList();
                ForeachKernels.AdamW(items.Select(i => (Tensor)i.Parameter).ToArray(), items.Select(i => i.Grad!).ToArray(),
                    states.Select(s => s.M).ToArray(), states.Select(s => s.V).ToArray(), step,
                    g.LearningRate * lrScale, Beta1, Beta2, WeightDecay, Epsilon);
            }
        }
    }

    (Tensor M, Tensor V) State(string name, Parameter p)
    {
        if (!_state.TryGetValue(name, out var s))
            _state[name] = s = (torch.zeros_like(p).DetachFromDisposeScope(), torch.zeros_like(p).DetachFromDisposeScope());
        return s;
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
