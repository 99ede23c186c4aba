using System.CommandLine;
using Microsoft.ML;
using OneDiff.MLNet;

namespace OneDiff.Cli.Commands;

/// <summary>The saved model a command runs, and where and how it decodes (unset: as saved).</summary>
internal sealed class ModelOptions
{
    public Option<string> Model { get; } = new("--model") { Description = "a model saved by onediff train or mlContext.Model.Save", Required = true };
    public Option<string?> Device { get; } = new("--device") { Description = "auto, cpu, cuda or cuda:N (default: as saved, normally auto)" };
    public Option<string?> Precision { get; } = new("--precision") { Description = "auto, float32, bfloat16 (half the memory, also on the CPU) or float16 (CUDA only) (default: as saved, normally auto: bfloat16 on CUDA, float32 on the CPU)" };
    public Option<string?> ClipFolder { get; } = new("--clip-folder") { Description = "for a model saved with external base weights: where its CLIP folder is now (the same files)" };
    public Option<string?> LlmFolder { get; } = new("--llm-folder") { Description = "for a LoRA model saved with external base weights: where its LLM folder is now (the same files)" };
    public Option<int?> Beams { get; } = new("--beams") { Description = "beam width; 1 is greedy (default: as saved)" };
    public Option<int?> MaxNewTokens { get; } = new("--max-new-tokens") { Description = "longest caption in tokens (default: as saved)" };
    public Option<int?> BatchSize { get; } = new("--batch-size") { Description = "pairs captioned together (default: as saved)" };

    public IEnumerable<Option> All => [Model, Device, Precision, ClipFolder, LlmFolder, Beams, MaxNewTokens, BatchSize];

    /// <summary>How change maps are read (caption --map/--maps); the default is the method that
    /// pointed best on the quickstart's held-out pairs (docs/change-maps.md).</summary>
    public static Option<string> MapMethod() => new("--map-method")
    {
        Description = "how change maps are read from the model: gradient (gradient x input, the default) or attention (the delta tokens' cross-attention)",
        DefaultValueFactory = _ => "gradient",
    };

    public static OneDiff.Modeling.Models.OneDiff.ChangeMapMethod ParseMapMethod(string name) => name switch
    {
        "gradient" => OneDiff.Modeling.Models.OneDiff.ChangeMapMethod.GradientTimesInput,
        "attention" => OneDiff.Modeling.Models.OneDiff.ChangeMapMethod.DeltaAttention,
        _ => throw new UsageException($"--map-method must be gradient or attention, not '{name}'"),
    };

    /// <summary>What takes less memory when a model's captioning runs out of it.</summary>
    public const string OutOfMemoryAdvice = "a smaller --batch-size; --precision bfloat16 (half the weights' memory, also on the CPU); --beams 1 (a cache per beam); fewer --max-new-tokens";

    /// <summary>The overrides, checked (values in range, the device present), so that a wrong flag
    /// fails before the images are read: a value out of range is a <see cref="UsageException"/>.</summary>
    public CaptioningOverrides Overrides(ParseResult parse) => UsageException.Check(() =>
    {
        var overrides = new CaptioningOverrides
        {
            Device = parse.GetValue(Device), Precision = parse.GetValue(Precision), NumBeams = parse.GetValue(Beams), MaxNewTokens = parse.GetValue(MaxNewTokens),
            BatchSize = parse.GetValue(BatchSize), ClipFolder = parse.GetValue(ClipFolder), LlmFolder = parse.GetValue(LlmFolder),
        };
        overrides.ApplyTo(new CaptioningSettings());
        if (overrides.Device is { } device) OneDiff.Modeling.Runtime.DeviceSelector.Resolve(device).Dtype(overrides.Precision);
        return overrides;
    });

    public DiffCaptionTransformer Load(ParseResult parse) => new MLContext().DiffCaptioning().LoadTransformer(parse.GetValue(Model)!, Overrides(parse));
}
