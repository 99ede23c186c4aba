using System.Globalization;
using System.Text.Json;
using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Training;

/// <summary>One checkpoint folder of a run: its stage and step, whether it is complete (a
/// resumed run takes only those), its size, and from its state.json the last loss and LoRA settings.</summary>
public sealed record CheckpointInfo(string Path, TrainingStage Stage, long Step, bool Complete, long Bytes, double? LastLoss, string? Lora);

/// <summary>
/// A training run's checkpoints in one folder: <c>stage{1,2}-step{N:D8}/</c> holding the trained
/// parameters, the optimizer state and state.json (step, losses, LoRA settings). A checkpoint is
/// written into <c>NAME.partial</c> and renamed when complete, so one cut off while written never
/// passes for a checkpoint; the stage's older ones are pruned to the latest few.
/// </summary>
public sealed class CheckpointStore
{
    const string PartialSuffix = ".partial";

    public string Folder { get; }
    /// <summary>Where the store says what it did (set aside an unfinished checkpoint, deleted old ones).</summary>
    public Action<string>? Log { get; init; }

    public CheckpointStore(string folder) => Folder = folder;

    static string StageName(TrainingStage stage) => stage == TrainingStage.CoupledSampleTraining ? "stage1" : "stage2";

    /// <summary>LoRA settings as a checkpoint records them ("none" without LoRA).</summary>
    static string Describe(LoraConfig? lora) => lora is null ? "none"
        : FormattableString.Invariant($"rank {lora.Rank}, alpha {lora.Alpha}, dropout {lora.Dropout}, targets {string.Join(",", lora.Targets)}");

    /// <summary>The names of the parameters a checkpoint of <paramref name="model"/> holds: every one that trains in its stage.</summary>
    public static HashSet<string> TrainedNames(OneDiffModel model) =>
        model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToHashSet(StringComparer.Ordinal);

    /// <summary>Writes the model's trained parameters, the optimizer state, the step and the
    /// losses so far into "NAME.partial", renames it to NAME once complete, then deletes the
    /// stage's checkpoints older than the stage's <see cref="StageSettings.KeepCheckpoints"/>
    /// latest (0: keeps all). In a data-parallel run every rank calls it: rank 0 writes the weights
    /// (the same on every rank) and the state; the optimizer state is rank 0's, or with sharded
    /// state every rank's own file, so the checkpoint is complete once rank 0 renames it.</summary>
    public void Save(StageSettings s, long step, OneDiffModel model, AdamW optimizer, IReadOnlyList<double> losses, DataParallel? parallel = null)
    {
        bool main = parallel is null || parallel.Rank == 0;
        bool sharded = parallel is { ShardOptimizerState: true };
        string dir = Path.Combine(Folder, $"{StageName(s.Stage)}-step{step:D8}");
        string partial = dir + PartialSuffix;
        if (main)
        {
            foreach (var stale in Directory.Exists(Folder) ? Directory.GetDirectories(Folder, $"{StageName(s.Stage)}-step*{PartialSuffix}") : [])
            {
                Directory.Delete(stale, recursive: true);
                Log?.Invoke($"deleted {stale}, a checkpoint whose writing was cut off");
            }
            Directory.CreateDirectory(partial);
        }
        parallel?.Group.Barrier(); // the folder exists before any rank writes into it
        if (sharded) optimizer.Save(Path.Combine(partial, ShardFile(parallel!.Rank, parallel.Size)));
        parallel?.Group.Barrier(); // every shard is written before rank 0 completes the checkpoint
        if (main)
        {
            var names = TrainedNames(model);
            var trained = model.named_parameters().Where(p => names.Contains(p.name)).Select(p => new KeyValuePair<string, Tensor>(p.name, p.parameter)).ToList();
            SafetensorsWriter.Save(Path.Combine(partial, "trainable.safetensors"), trained);
            if (!sharded) optimizer.Save(Path.Combine(partial, "optimizer.safetensors"));
            File.WriteAllText(Path.Combine(partial, "state.json"), JsonSerializer.Serialize(new
            {
                stage = StageName(s.Stage), step, losses, lora = Describe(s.Lora),
                ranks = parallel?.Size ?? 1, sharded, global_batch = GlobalBatch(s, parallel),
            }));
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); // the same step written again (a rerun): the new one replaces it
            Directory.Move(partial, dir);
            if (s.KeepCheckpoints > 0)
                foreach (var old in Complete(Folder, s.Stage).SkipLast(s.KeepCheckpoints))
                {
                    Directory.Delete(old, recursive: true);
                    Log?.Invoke($"deleted {old} (KeepCheckpoints {s.KeepCheckpoints})");
                }
        }
        parallel?.Group.Barrier(); // no rank goes on (or resumes) before the checkpoint is complete
    }

    static string ShardFile(int rank, int size) => $"optimizer-rank{rank:D4}-of{size:D4}.safetensors";

    /// <summary>The examples one optimizer step covers: micro-batch x accumulation x ranks.</summary>
    static long GlobalBatch(StageSettings s, DataParallel? parallel) => (long)s.BatchSize * s.GradientAccumulation * (parallel?.Size ?? 1);

    /// <summary>The stage's latest complete checkpoint, or null; an unfinished one (cut off while
    /// written) is left where it is and named in the log.</summary>
    public string? Latest(TrainingStage stage)
    {
        if (!Directory.Exists(Folder)) return null;
        var complete = Complete(Folder, stage).ToList();
        foreach (var d in Directory.GetDirectories(Folder, $"{StageName(stage)}-step*").Except(complete).Order(StringComparer.Ordinal))
            Log?.Invoke($"left aside {d}: an unfinished checkpoint (its writing was cut off), not resumed from");
        return complete.LastOrDefault();
    }

    /// <summary>Restores a checkpoint of a run that trained the same parameters the same way into
    /// <paramref name="model"/> and <paramref name="optimizer"/>, and returns its step and losses;
    /// another run's (other LoRA settings, another stage setup, another global batch) is an error
    /// naming the difference, not a silent partial load. A checkpoint of N ranks resumes on any
    /// number whose global batch (micro-batch x accumulation x ranks) is the same, sharded or not:
    /// a step then covers the same examples, and each rank takes the optimizer state of the
    /// parameters it updates from whichever file holds it.</summary>
    public (long Step, List<double> Losses) Load(string dir, OneDiffModel model, AdamW optimizer, StageSettings s, DataParallel? parallel = null)
    {
        using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "state.json")));
        var root = state.RootElement;
        string savedLora = root.TryGetProperty("lora", out var l) ? l.GetString() ?? "none" : "none";
        if (savedLora != Describe(s.Lora))
            throw new InvalidOperationException($"{dir} was written with LoRA {savedLora}, and this run has LoRA {Describe(s.Lora)}: " +
                "resume with the same settings, or give this run another checkpoint folder");
        int savedRanks = root.TryGetProperty("ranks", out var r) ? r.GetInt32() : 1;
        long globalBatch = GlobalBatch(s, parallel);
        if (root.TryGetProperty("global_batch", out var g) && g.GetInt64() != globalBatch)
            throw new InvalidOperationException($"{dir} was written by {savedRanks} rank(s) with a global batch of {g.GetInt64()} examples a step, and this run's is {globalBatch} " +
                $"({s.BatchSize} x {s.GradientAccumulation} accumulated x {parallel?.Size ?? 1} rank(s)): a step would cover other examples. " +
                "Resume with a micro-batch, accumulation and rank count whose product is the same, or give this run another checkpoint folder");
        var trained = TrainedNames(model);
        using (var ck = SafetensorsCheckpoint.Open(Path.Combine(dir, "trainable.safetensors")))
        {
            var missing = trained.Where(n => !ck.Contains(n)).Order(StringComparer.Ordinal).ToList();
            var extra = ck.Names.Where(n => !trained.Contains(n)).Order(StringComparer.Ordinal).ToList();
            if (missing.Count + extra.Count > 0)
                throw new InvalidOperationException($"{dir} holds other trainable parameters than this run trains ({missing.Count} missing, such as " +
                    $"'{missing.FirstOrDefault() ?? "-"}'; {extra.Count} not trained here, such as '{extra.FirstOrDefault() ?? "-"}'): give this run another checkpoint folder");
            ck.LoadInto(model, strict: false, n => ck.Contains(n) ? n : null);
        }
        bool savedSharded = root.TryGetProperty("sharded", out var sh) && sh.GetBoolean();
        var files = savedSharded
            ? Enumerable.Range(0, savedRanks).Select(rank => Path.Combine(dir, ShardFile(rank, savedRanks))).ToList()
            : [Path.Combine(dir, "optimizer.safetensors")];
        if (files.FirstOrDefault(f => !File.Exists(f)) is { } absent)
            throw new InvalidDataException($"{dir} lacks {Path.GetFileName(absent)}: the optimizer state of a rank of the run that wrote it");
        foreach (var file in files) optimizer.Load(file); // each rank takes the parameters it updates
        var losses = root.GetProperty("losses").EnumerateArray().Select(x => x.GetDouble()).ToList();
        return (root.GetProperty("step").GetInt64(), losses);
    }

    /// <summary>Every checkpoint in <paramref name="folder"/> (a run's checkpoint folder), by stage then step.</summary>
    public static List<CheckpointInfo> List(string folder)
    {
        var found = new List<CheckpointInfo>();
        if (!Directory.Exists(folder)) return found;
        foreach (var stage in new[] { TrainingStage.CoupledSampleTraining, TrainingStage.InstructionTuning })
        {
            var complete = Complete(folder, stage).ToHashSet(StringComparer.Ordinal);
            foreach (var dir in Directory.GetDirectories(folder, $"{StageName(stage)}-step*").Order(StringComparer.Ordinal))
            {
                string name = System.IO.Path.GetFileName(dir);
                string digits = name[$"{StageName(stage)}-step".Length..];
                if (digits.EndsWith(PartialSuffix, StringComparison.Ordinal)) digits = digits[..^PartialSuffix.Length];
                if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long step)) continue; // not one of ours
                long bytes = new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
                double? lastLoss = null;
                string? lora = null;
                bool ok = complete.Contains(dir);
                if (ok)
                {
                    using var state = JsonDocument.Parse(File.ReadAllText(System.IO.Path.Combine(dir, "state.json")));
                    if (state.RootElement.TryGetProperty("losses", out var losses) && losses.GetArrayLength() > 0) lastLoss = losses[losses.GetArrayLength() - 1].GetDouble();
                    if (state.RootElement.TryGetProperty("lora", out var l)) lora = l.GetString();
                }
                found.Add(new CheckpointInfo(dir, stage, step, ok, bytes, lastLoss, lora));
            }
        }
        return found;
    }

    /// <summary>The stage's complete checkpoints (renamed from ".partial", state.json written last), oldest first.</summary>
    static IEnumerable<string> Complete(string folder, TrainingStage stage) =>
        (Directory.Exists(folder) ? Directory.GetDirectories(folder, $"{StageName(stage)}-step*") : [])
            .Where(d => !d.EndsWith(PartialSuffix, StringComparison.Ordinal) && File.Exists(Path.Combine(d, "state.json")))
            .Order(StringComparer.Ordinal);
}
