using OneDiff.Modeling.Distributed;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Training;

/// <summary>
/// Data-parallel training across the ranks of a <see cref="ProcessGroup"/>, as PyTorch's DDP and
/// DeepSpeed's ZeRO stage 1 do it:
/// <list type="bullet">
/// <item>each rank trains on its share of every global micro-batch (every <c>Size</c>-th example
/// from its rank on, as PyTorch's DistributedSampler deals them), so that one step of N ranks with
/// micro-batch B covers the examples of one process with micro-batch N x B;</item>
/// <item>gradients are summed in flat buckets of <see cref="BucketBytes"/> (the loss is already
/// divided by the whole global batch's token count), once per optimizer step, after the last
/// micro-batch;</item>
/// <item>with <see cref="ShardOptimizerState"/>, each parameter has one owning rank, which alone
/// keeps its fp32 copy and AdamW moments: its gradient is reduced to the owner, the owner updates
/// it and broadcasts the new value.</item>
/// </list>
/// The reduction is not overlapped with the backward pass: TorchSharp 0.107 has no gradient hooks
/// (docs/distributed.md has the measured cost).
/// </summary>
public sealed class DataParallel
{
    public DataParallel(ProcessGroup group) => Group = group;

    public ProcessGroup Group { get; }
    public int Rank => Group.Rank;
    public int Size => Group.Size;
    /// <summary>Keep each trained parameter's optimizer state on one rank only (ZeRO stage 1).</summary>
    public bool ShardOptimizerState { get; init; }
    /// <summary>Gradients are summed this many bytes at a time (PyTorch DDP's default: 25 MB).</summary>
    public long BucketBytes { get; init; } = 25L << 20;

    /// <summary>This rank's examples of a global micro-batch: every Size-th one from its rank on
    /// (possibly none, in an epoch's last micro-batch).</summary>
    public int[] Share(int[] global)
    {
        var mine = new List<int>((global.Length + Size - 1) / Size);
        for (int i = Rank; i < global.Length; i += Size) mine.Add(global[i]);
        return [.. mine];
    }

    /// <summary>The owning rank of each parameter: the largest first, each to the rank holding the
    /// fewest elements so far (the same answer on every rank, by name order for ties).</summary>
    public static Dictionary<string, int> Owners(IReadOnlyList<(string Name, long Elements)> parameters, int ranks)
    {
        var load = new long[ranks];
        var owners = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (name, elements) in parameters.OrderByDescending(p => p.Elements).ThenBy(p => p.Name, StringComparer.Ordinal))
        {
            int least = 0;
            for (int r = 1; r < ranks; r++) if (load[r] < load[least]) least = r;
            owners[name] = least;
            load[least] += elements;
        }
        return owners;
    }

    /// <summary>Consecutive runs of tensors of one dtype of at most <see cref="BucketBytes"/> (a
    /// larger tensor alone), in the given order, which every rank shares.</summary>
    IEnumerable<List<(string Name, Parameter Parameter)>> Buckets(IEnumerable<(string Name, Parameter Parameter)> parameters)
    {
        var bucket = new List<(string, Parameter)>();
        long bytes = 0;
        ScalarType? dtype = null;
        foreach (var p in parameters)
        {
            long size = p.Parameter.numel() * p.Parameter.element_size();
            if (bucket.Count > 0 && (bytes + size > BucketBytes || p.Parameter.dtype != dtype)) { yield return bucket; bucket = []; bytes = 0; }
            bucket.Add(p);
            bytes += size;
            dtype = p.Parameter.dtype;
        }
        if (bucket.Count > 0) yield return bucket;
    }

    /// <summary>The bucket's gradients in one flat tensor (zeros where a parameter has none: a rank
    /// whose share of the step was empty).</summary>
    static Tensor Flatten(List<(string Name, Parameter Parameter)> bucket) =>
        torch.cat(bucket.Select(p => p.Parameter.grad is { } g ? g.reshape(-1) : torch.zeros(p.Parameter.numel(), p.Parameter.dtype, p.Parameter.device)).ToArray());

    static void Unflatten(Tensor flat, List<(string Name, Parameter Parameter)> bucket, bool grads)
    {
        long at = 0;
        foreach (var (_, p) in bucket)
        {
            long n = p.numel();
            var part = flat.narrow(0, at, n).view(p.shape);
            if (!grads) p.copy_(part);
            else if (p.grad is { } g) g.copy_(part);
            else p.grad = part.clone();
            at += n;
        }
    }

    /// <summary>After the step's last backward pass: every rank's gradients summed. Unsharded,
    /// every rank gets the sum (all-reduce); sharded, each parameter's owner does (reduce).</summary>
    public void ReduceGradients(IReadOnlyList<(string Name, Parameter Parameter)> trained, IReadOnlyDictionary<string, int>? owners)
    {
        using var noGrad = torch.no_grad();
        if (owners is null)
        {
            foreach (var bucket in Buckets(trained))
            {
                using var scope = torch.NewDisposeScope();
                var flat = Flatten(bucket);
                Group.AllReduceSum(flat);
                Unflatten(flat, bucket, grads: true);
            }
            return;
        }
        for (int owner = 0; owner < Size; owner++)
            foreach (var bucket in Buckets(trained.Where(p => owners[p.Name] == owner)))
            {
                using var scope = torch.NewDisposeScope();
                var flat = Flatten(bucket);
                Group.ReduceSum(flat, owner);
                if (owner == Rank) Unflatten(flat, bucket, grads: true);
            }
    }

    /// <summary>After a sharded reduction: clips the gradients of the parameters this rank owns so
    /// that the norm of every rank's together is at most <paramref name="maxNorm"/>; the norm stays
    /// on <paramref name="device"/>, and is returned (before clipping). (Unsharded, every rank holds
    /// the whole sum: plain clipping.)</summary>
    public Tensor ClipOwnedByGlobalNorm(IReadOnlyList<Parameter> owned, double maxNorm, Device device)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var grads = owned.Select(p => p.grad).OfType<Tensor>().ToArray();
        var squared = grads.Length == 0 ? torch.zeros(1, ScalarType.Float32, device) : ForeachKernels.GradNorm(grads).square().reshape(1);
        Group.AllReduceSum(squared);
        var norm = squared.sqrt().reshape([]);
        if (grads.Length > 0) ForeachKernels.ScaleToNorm(grads, norm, maxNorm);
        return norm.MoveToOuterDisposeScope();
    }

    /// <summary>After a sharded update: each owner's new values to every rank.</summary>
    public void BroadcastFromOwners(IReadOnlyList<(string Name, Parameter Parameter)> trained, IReadOnlyDictionary<string, int> owners)
    {
        using var noGrad = torch.no_grad();
        for (int owner = 0; owner < Size; owner++)
            foreach (var bucket in Buckets(trained.Where(p => owners[p.Name] == owner)))
            {
                using var scope = torch.NewDisposeScope();
                var flat = torch.cat(bucket.Select(p => p.Parameter.detach().reshape(-1)).ToArray());
                Group.Broadcast(flat, owner);
                if (owner != Rank) Unflatten(flat, bucket, grads: false);
            }
    }

    /// <summary>Rank 0's values of every parameter to every rank, so that all start from the same model.</summary>
    public void BroadcastParameters(IEnumerable<(string Name, Parameter Parameter)> parameters)
    {
        using var noGrad = torch.no_grad();
        foreach (var bucket in Buckets(parameters))
        {
            using var scope = torch.NewDisposeScope();
            var flat = torch.cat(bucket.Select(p => p.Parameter.detach().reshape(-1)).ToArray());
            Group.Broadcast(flat, 0);
            if (Rank != 0) Unflatten(flat, bucket, grads: false);
        }
    }

    /// <summary>Sums a one-element device tensor (a step's loss) over every rank, in place.</summary>
    public void SumScalar(Tensor value) => Group.AllReduceSum(value);
}
