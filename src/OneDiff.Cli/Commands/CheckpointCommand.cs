using System.CommandLine;
using Microsoft.ML;
using OneDiff.MLNet;
using System.Globalization;
using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Training;

namespace OneDiff.Cli.Commands;

/// <summary><c>onediff checkpoint inspect PATH</c>: the tensors of a safetensors checkpoint, or what
/// a saved OneDiff model (.zip) is and which base weights it needs.</summary>
public static class CheckpointCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "a .safetensors file, a model.safetensors.index.json, a model folder, a saved OneDiff model (.zip), or a training run's CheckpointFolder" };
        var inspect = new Command("inspect", "List the tensors of a safetensors checkpoint (name, dtype, shape), say what a saved model is and needs, or list a training run's checkpoints") { path };
        CliAction.Set(inspect, (parse, _) =>
        {
            string target = parse.GetValue(path)!;
            if (Directory.Exists(target) && CheckpointStore.List(target) is { Count: > 0 } run) return PrintRun(run);
            if (target.EndsWith(".zip", StringComparison.OrdinalIgnoreCase)) return PrintModel(new MLContext().DiffCaptioning().ReadModelInfo(target));
            using var checkpoint = SafetensorsCheckpoint.Open(target);
            long total = 0;
            foreach (var name in checkpoint.Names.OrderBy(n => n, StringComparer.Ordinal))
            {
                var e = checkpoint.Entry(name);
                total += e.ElementCount;
                Console.WriteLine($"{name}\t{SafetensorsDType.NameOf(e.DType)}\t[{string.Join(", ", e.Shape)}]");
            }
            Console.WriteLine($"{checkpoint.Names.Count} tensors, {total:N0} elements, {checkpoint.Files.Count} file(s)");
            return ExitCodes.Success;
        });
        return new Command("checkpoint", "Checkpoint tools") { inspect };
    }

    /// <summary>A training run's checkpoints, the one a resumed run would take marked, unfinished ones named.</summary>
    static int PrintRun(List<CheckpointInfo> run)
    {
        var resumeFrom = run.Where(c => c.Complete).GroupBy(c => c.Stage).Select(g => g.MaxBy(c => c.Step)!.Path).ToHashSet();
        foreach (var c in run)
        {
            string size = (c.Bytes / (double)(1L << 30)).ToString("F2", CultureInfo.InvariantCulture) + " GiB";
            string what = c.Complete
                ? $"loss {c.LastLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "?"}, LoRA {c.Lora ?? "none"}" + (resumeFrom.Contains(c.Path) ? "; a resumed run starts here" : "")
                : "unfinished (its writing was cut off): never resumed from; the next checkpoint of its stage deletes it if it ends in .partial";
            Console.WriteLine($"{Path.GetFileName(c.Path)}\tstage {(int)c.Stage}, step {c.Step}, {size}, {what}");
        }
        Console.WriteLine($"{run.Count} checkpoint(s), {run.Count(c => !c.Complete)} unfinished, {(run.Sum(c => c.Bytes) / (double)(1L << 30)).ToString("F2", CultureInfo.InvariantCulture)} GiB in all");
        return 0;
    }

    /// <summary>The model's header; exits 1 when base weights it needs are missing.</summary>
    static int PrintModel(SavedModelInfo m)
    {
        var c = m.Config;
        Console.WriteLine($"OneDiff model (format {m.FormatVersion}): {c.Name}; CLIP {c.Vision.NumHiddenLayers} layers at {c.Vision.ImageSize} px, " +
            $"LLM {c.Llm.ModelType} {c.Llm.NumHiddenLayers} layers of {c.Llm.HiddenSize}, {c.NumDeltaTokens} delta tokens; tokenizer {m.Tokenizer}");
        var s = m.Settings;
        Console.WriteLine($"captions: template {s.Template}, device {s.Device}, precision {s.Precision}, beams {s.NumBeams}, " +
            $"up to {s.MaxNewTokens} new tokens, batch {s.BatchSize}; default prompt \"{s.DefaultPrompt}\"");
        if (m.ExternalClipFolder is { } clip) Console.WriteLine($"CLIP weights from {clip} ({string.Join(", ", m.ExternalClipFiles)}; SHA-256 checked at load)");
        else Console.WriteLine("CLIP weights: in the file");
        if (m.ExternalLlmFolder is { } llm)
            Console.WriteLine($"LLM weights from {llm} ({string.Join(", ", m.ExternalLlmFiles)}; SHA-256 checked at load), with LoRA adapters in the file: " +
                $"rank {m.Lora!.Rank}, alpha {m.Lora.Alpha}, on {string.Join(", ", m.Lora.Targets)}");
        else Console.WriteLine("LLM weights: in the file");
        if (m.MissingFiles.Count == 0) return 0;
        Console.WriteLine($"missing, so the model will not load here: {string.Join(", ", m.MissingFiles)} (--clip-folder / --llm-folder give their place)");
        return 1;
    }
}
