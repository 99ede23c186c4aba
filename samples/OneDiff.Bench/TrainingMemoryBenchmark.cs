using System.Diagnostics;
using System.Text.Json;
using OneDiff.Data;
using OneDiff.Data.Formats;
using OneDiff.Data.Images;
using OneDiff.Data.Synthetic;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Prompting;
using OneDiff.Modeling.Tokenization;
using OneDiff.Modeling.Training;
using TorchSharp;
using static OneDiff.Bench.BenchArgs;

namespace OneDiff.Bench;

/// <summary>
/// Host memory of a training epoch as the data grows: the Tiny model for one epoch over N
/// procedural pairs, with images streamed (loaded a window ahead of each step, as Fit does) or,
/// with --preload, all decoded and preprocessed first and held (as Fit did before). Prints the
/// process's peak working set; run once per mode and size, each in a fresh process.
/// </summary>
static class TrainingMemoryBenchmark
{
    public static int Run(string[] args)
    {
        int pairs = int.Parse(Arg(args, "--pairs") ?? "6000");
        bool preload = args.Contains("--preload");
        string dir = Path.Combine(Path.GetTempPath(), $"onediff-bench-memory-{pairs}");
        if (!File.Exists(Path.Combine(dir, "train.jsonl"))) ProceduralPairGenerator.Write(dir, pairs, seed: 1, imageSize: 64, testEvery: 0);
        var records = DiffCapJsonl.Read(Path.Combine(dir, "train.jsonl"));

        OneDiff.Modeling.Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(1);
        using var model = new OneDiffModel(OneDiffConfig.Tiny);
        var prompts = new PromptEncoder(TextTokenizer.Tiny(), ConversationTemplate.Plain);
        var processor = new ClipImageProcessor(OneDiffConfig.Tiny.Vision.ImageSize);
        var errors = new DataReport(BadInputMode.Error);
        var sw = Stopwatch.StartNew();
        List<TrainingExample> examples = preload
            ? PairPreprocessor.PrepareAll(records, processor, errors)
                .Select(p => new TrainingExample(TrainingImages.InMemory(p.Image1, p.Image2), TrainingSequence.Pack(p.Record.Captions.Select(c => prompts.Encode(p.Record.Prompt, c)).ToList()))).ToList()
            : records.Select(r => new TrainingExample(new TrainingImages(() =>
                {
                    var p = PairPreprocessor.PrepareOne(r, processor, errors)!;
                    return (p.Image1, p.Image2);
                }), TrainingSequence.Pack(r.Captions.Select(c => prompts.Encode(r.Prompt, c)).ToList()))).ToList();
        var settings = new StageSettings
        {
            Stage = TrainingStage.InstructionTuning, Epochs = 1, BatchSize = 16, Seed = 1,
            LearningRates = new Dictionary<string, double> { ["projectors"] = 1e-3, ["delta_module"] = 1e-3, ["language_model"] = 1e-3 },
        };
        var loop = new TrainingLoop(model, torch.CPU);
        loop.Run(examples, settings);
        sw.Stop();
        using var self = Process.GetCurrentProcess();
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            bench = "training-memory", images = preload ? "preloaded" : "streamed", pairs, steps = loop.Losses.Count,
            seconds = Math.Round(sw.Elapsed.TotalSeconds, 1), peak_working_set_mib = self.PeakWorkingSet64 / (1 << 20),
            image_floats_mib = pairs * 2L * 3 * 64 * 64 * sizeof(float) / (1 << 20),
        }));
        return 0;
    }
}
