using OneDiff.Modeling.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Training;

/// <summary>
/// AdamW with named parameter groups (each with its own learning rate), its state kept on the
/// parameters' device, and saved/loaded by parameter name so a run resumes exactly. With
/// <see cref="MasterWeights"/>, parameters stored in bf16 or fp16 are updated through an fp32
/// copy, as mixed-precision training does.
/// </summary>
public sealed class AdamW : IDisposable
{
    public sealed record Group(string Name, double LearningRate, IReadOnlyList<(string Name, Parameter Parameter)> Parameters);

    readonly List<Group> _groups;
    readonly Dictionary<string, (Tensor M, Tensor V)> _state = new(StringComparer.Ordinal);
    readonly Dictionary<string, Tensor> _masters = new(StringComparer.Ordinal);

    /// <summary>Keep an fp32 copy of every parameter stored in a 16-bit type, with fp32 moments,
    /// update the copy and round it into the parameter: a bf16 weight moves only by changes above
    /// its resolution (about 0.4 % of its value), so at stage II's learning rate of 2e-5 most
    /// updates to a weight kept in bf16 would round away. Eight more bytes per such parameter
    /// (a 7B LLM's 54 GB of weights, gradients and moments become 108 GB). fp32 parameters are
    /// updated as they are either way.</summary>
    public bool MasterWeights { get; init; }

    /// <summary>How many elements of gradients are cast to fp32 at a time for <see cref="MasterWeights"/>
    /// (by default 2^28, 1 GiB): the extra memory of an update, instead of a second copy of every
    /// gradient.</summary>
    public long MasterChunkElements { get; init; } = 1L << 28;
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
                double lr = g.LearningRate * lrScale;
                if (UsesMaster(bucket.Key.dtype))
                {
                    foreach (var chunk in Chunks(items, i => i.Parameter.numel()))
                        UpdateThroughMasters(chunk.Select(i => (i.Name, i.Parameter, i.Grad!)).ToList(), step, lr);
                    continue;
                }
                var states = items.Select(i => State(i.Name, i.Parameter)).ToList();
                ForeachKernels.AdamW(items.Select(i => (Tensor)i.Parameter).ToArray(), items.Select(i => i.Grad!).ToArray(),
                    states.Select(s => s.M).ToArray(), states.Select(s => s.V).ToArray(), step,
                    lr, Beta1, Beta2, WeightDecay, Epsilon);
            }
        }
    }

    bool UsesMaster(ScalarType dtype) => MasterWeights && dtype is ScalarType.BFloat16 or ScalarType.Float16;

    /// <summary>The fused update on the fp32 copies with the gradients cast to fp32, then each
    /// copy rounded into its parameter.</summary>
    void UpdateThroughMasters(List<(string Name, Parameter Parameter, Tensor Grad)> items, Tensor step, double lr)
    {
        using var scope = torch.NewDisposeScope();
        var masters = items.Select(i => Master(i.Name, i.Parameter)).ToArray();
        var states = items.Select((i, k) => State(i.Name, masters[k])).ToList();
        var grads = items.Select(i => i.Grad.to(ScalarType.Float32)).ToArray();
        ForeachKernels.AdamW(masters, grads, states.Select(s => s.M).ToArray(), states.Select(s => s.V).ToArray(), step,
            lr, Beta1, Beta2, WeightDecay, Epsilon);
        for (int i = 0; i < items.Count; i++) items[i].Parameter.copy_(masters[i]);
    }

    /// <summary>Consecutive runs of <paramref name="items"/> of at most <see cref="MasterChunkElements"/>
    /// elements (an item larger than that alone).</summary>
    IEnumerable<List<T>> Chunks<T>(IEnumerable<T> items, Func<T, long> size)
    {
        var chunk = new List<T>();
        long total = 0;
        foreach (var item in items)
        {
            long n = size(item);
            if (chunk.Count > 0 && total + n > MasterChunkElements) { yield return chunk; chunk = []; total = 0; }
            chunk.Add(item);
            total += n;
        }
        if (chunk.Count > 0) yield return chunk;
    }

    /// <summary>The fp32 copy of a 16-bit parameter, made from its current value at its first update.</summary>
    Tensor Master(string name, Parameter p)
    {
        if (!_masters.TryGetValue(name, out var master))
            _masters[name] = master = p.detach().to(ScalarType.Float32).DetachFromDisposeScope();
        return master;
    }

    /// <summary>Moments shaped and typed as <paramref name="like"/> (the parameter, or its fp32 copy).</summary>
    (Tensor M, Tensor V) State(string name, Tensor like)
    {
        if (!_state.TryGetValue(name, out var s))
            _state[name] = s = (torch.zeros_like(like).DetachFromDisposeScope(), torch.zeros_like(like).DetachFromDisposeScope());
        return s;
    }

    public void ZeroGrad()
    {
        foreach (var g in _groups) foreach (var (_, p) in g.Parameters) p.grad = null;
    }

    /// <summary>Writes the moments and fp32 copies (by parameter name) and the step.</summary>
    public void Save(string path)
    {
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var (name, (m, v)) in _state.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            tensors.Add(new($"{name}.exp_avg", m));
            tensors.Add(new($"{name}.exp_avg_sq", v));
            if (_masters.TryGetValue(name, out var master)) tensors.Add(new($"{name}.master", master));
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
                // Moments in the type they were saved in: fp32 with an fp32 copy, else the parameter's.
                // A run saved without copies resumes with them made from the parameters, and one
                // saved with them resumes without them from the parameters (rounded, as they are).
                bool master = UsesMaster(p.dtype);
                var stateType = master ? ScalarType.Float32 : p.dtype;
                if (master)
                {
                    var copy = torch.zeros_like(p, dtype: ScalarType.Float32).DetachFromDisposeScope();
                    if (f.Contains($"{name}.master")) f.ReadInto($"{name}.master", copy);
                    else { using var noGrad = torch.no_grad(); copy.copy_(p); }
                    if (_masters.Remove(name, out var oldMaster)) oldMaster.Dispose();
                    _masters[name] = copy;
                }
                var m = torch.zeros_like(p, dtype: stateType).DetachFromDisposeScope();
                var v = torch.zeros_like(p, dtype: stateType).DetachFromDisposeScope();
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
        foreach (var master in _masters.Values) master.Dispose();
        _masters.Clear();
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
