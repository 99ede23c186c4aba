// OneDiff.MLNet quickstart: generate the procedural image-difference dataset, train the Tiny
// OneDiff through both stages (Coupled Sample Training, then instruction tuning), score held-out
// pairs overall and per change type next to the best constant caption, save, reload, and caption a
// few pairs, and show where it saw four of the changes. CPU by default here; CUDA where present.
using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using OneDiff.Data;
using OneDiff.Data.Formats;
using OneDiff.Data.Images;
using OneDiff.Data.Localization;
using OneDiff.Data.Synthetic;
using OneDiff.Metrics;
using OneDiff.MLNet;
using OneDiff.Modeling.Models.OneDiff;

var total = Stopwatch.StartNew();
string work = ArgValue(args, "--work") ?? Path.Combine(Path.GetTempPath(), "onediff-quickstart");
int pairs = int.Parse(ArgValue(args, "--pairs") ?? "1500");
string? metricsOut = ArgValue(args, "--metrics-out");
string modelOut = ArgValue(args, "--model-out") ?? Path.Combine(work, "onediff-tiny.zip");

var ml = new MLContext(seed: 1);
ml.Log += (_, e) =>
{
    if (e.Source.StartsWith("OneDiff", StringComparison.Ordinal) && e.Kind is Microsoft.ML.Runtime.ChannelMessageKind.Info or Microsoft.ML.Runtime.ChannelMessageKind.Warning)
        Console.WriteLine($"  {e.RawMessage}");
};
var catalog = ml.DiffCaptioning();

// 1. Data: shapes that appear, disappear, move, change colour or size, swap; or nothing changes.
string data = Path.Combine(work, "data");
if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
var (trainCount, testCount) = ProceduralPairGenerator.Write(data, pairs, seed: 1, imageSize: 64);
Console.WriteLine($"data: {trainCount} training and {testCount} held-out pairs in {data}");
var train = catalog.LoadDataset("diffcap", data, "train");
var test = catalog.LoadDataset("diffcap", data, "test");
var singles = catalog.LoadImageCaptions(Path.Combine(data, "captions.json"), data);

// 2. Train the Tiny preset through both stages, with its own steps and learning rates
//    (PresetDefaults.Tiny); the arguments override them for experiments.
var trainer = catalog.Trainers.OneDiff(new DiffCaptionTrainer.Options
{
    Preset = "Tiny",
    CaptionData = singles,
    StageOneSteps = ArgValue(args, "--stage1-steps") is { } stageOneSteps ? int.Parse(stageOneSteps) : null,
    StageTwoEpochs = ArgValue(args, "--epochs") is { } epochs ? int.Parse(epochs) : null,
    StageTwoLearningRate = ArgValue(args, "--lr") is { } lr ? double.Parse(lr, System.Globalization.CultureInfo.InvariantCulture) : null,
    StageTwoLanguageModelLearningRate = ArgValue(args, "--llm-lr") is { } llmLr ? double.Parse(llmLr, System.Globalization.CultureInfo.InvariantCulture) : null,
    BatchSize = int.Parse(ArgValue(args, "--batch") ?? "16"),
    CacheVisionFeatures = true,
    Fusion = ArgValue(args, "--fusion") switch { null => null, "sequence" => PairFusion.Sequence, "channel" => PairFusion.ChannelConcat, var f => throw new ArgumentException($"--fusion: '{f}' is neither sequence nor channel") },
    PackReferences = args.Contains("--pack"),
    MaxNewTokens = 40,
    Device = ArgValue(args, "--device") ?? "auto",
    MetricsFolder = work, // metrics.jsonl and training.png
});
var model = trainer.Fit(train);
Console.WriteLine($"training record: {Path.Combine(work, TrainingRecord.FileName)} and its plot {Path.Combine(work, TrainingRecord.PlotName)}");

// 3. Held-out scores, overall and per change type, next to the best constant caption.
var scored = model.Transform(test);
var metrics = catalog.Evaluate(scored, "References", "PredictedCaption", "Group");
var baseline = BestConstantCaption(train, test, catalog);
Console.WriteLine();
Console.WriteLine("OneDiff Tiny on held-out pairs:");
Console.WriteLine(metrics.ToTable());
Console.WriteLine($"\nbest constant caption \"{baseline.Caption}\":");
Console.WriteLine(CaptionReport.ToTable(baseline.Evaluation));

// 4. Save, reload (plain ML.NET), caption a few pairs.
ml.Model.Save(model, train.Schema, modelOut);
var reloaded = ml.Model.Load(modelOut, out _);
Console.WriteLine($"\nsaved {modelOut} ({new FileInfo(modelOut).Length / 1024} KiB) and loaded it back; a few held-out pairs:");
var examples = reloaded.Transform(test);
var rows = ml.Data.CreateEnumerable<Captioned>(examples, reuseRowObject: false).Take(6);
foreach (var r in rows) Console.WriteLine($"  [{r.Group}] {Path.GetFileName(r.Image1)}: \"{r.PredictedCaption}\"   (a reference: \"{r.References[0]}\")");

// 5. Where the model saw the change: a change map beside four held-out captions (docs/change-maps.md).
model.WithChangeMaps(ChangeMapMethod.GradientTimesInput);
var located = DiffCapJsonl.Read(Path.Combine(data, "test.jsonl"));
var shown = new[] { "add", "move", "recolour", "remove" }.Select(type => located.First(r => r.Group == type)).ToList();
var outcomes = model.EnumerateOutcomes(shown.Select(r => new ImagePairRow(r, ImageInput.FromPath(r.Image1), ImageInput.FromPath(r.Image2)))).ToList();
var figures = shown.Select((r, i) =>
{
    var (before, after) = (ImageDecoder.Decode(r.Image1), ImageDecoder.Decode(r.Image2));
    return ChangeMapFigure.Compose(before, after, outcomes[i].Map!, model.MapGrid(before.Width, before.Height), model.MapGrid(after.Width, after.Height), outcomes[i].Caption, panelSide: 200);
}).ToList();
string mapsFile = Path.Combine(work, "change-maps.png");
ImageDecoder.SavePng(ChangeMapFigure.Stack(figures), mapsFile);
Console.WriteLine($"\nchange maps of four held-out pairs: {mapsFile}");

double seconds = total.Elapsed.TotalSeconds;
Console.WriteLine($"\nCIDEr {metrics.Cider * 100:F1} vs constant {baseline.Evaluation.Corpus.Cider * 100:F1} ({metrics.Cider / Math.Max(1e-9, baseline.Evaluation.Corpus.Cider):F1}x); {seconds:F0} s");
Console.WriteLine($"""

next, with the command line (dotnet run --project src/OneDiff.Cli -- ...):
  caption --model {modelOut} --before {Path.Combine(data, "images", "000004_a.png")} --after {Path.Combine(data, "images", "000004_b.png")}
  evaluate --model {modelOut} --format diffcap --root {data} --split test
  evaluate --model {modelOut} --format diffcap --root {data} --split test --localization
""");
if (metricsOut is not null)
{
    var doc = new
    {
        overall = Scores(metrics.Evaluation.Corpus),
        per_type = metrics.Evaluation.PerGroup.ToDictionary(g => g.Key, g => Scores(g.Value)),
        baseline = new { caption = baseline.Caption, overall = Scores(baseline.Evaluation.Corpus), per_type = baseline.Evaluation.PerGroup.ToDictionary(g => g.Key, g => Scores(g.Value)) },
        seconds,
        train_pairs = trainCount,
        test_pairs = testCount,
    };
    File.WriteAllText(metricsOut, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine($"metrics written to {metricsOut}");
}
return 0;

static Dictionary<string, double> Scores(CaptionScores s) => new(s.ToDictionary());

// The constant caption (among the 40 most frequent training references) with the best held-out
// CIDEr, scored the same way, overall and per type.
static (string Caption, CaptionEvaluation Evaluation) BestConstantCaption(IDataView train, IDataView test, DiffCaptioningCatalog catalog)
{
    var ctx = new MLContext();
    var trainRows = ctx.Data.CreateEnumerable<Referenced>(train, reuseRowObject: false).ToList();
    var testRows = ctx.Data.CreateEnumerable<Referenced>(test, reuseRowObject: false).ToList();
    var candidates = trainRows.SelectMany(r => r.References).GroupBy(c => c).OrderByDescending(g => g.Count()).Take(40).Select(g => g.Key);
    var evaluator = new CaptionEvaluator();
    (string, CaptionEvaluation)? best = null;
    foreach (var c in candidates)
    {
        var e = evaluator.Evaluate(testRows.Select((r, i) => new CaptionItem($"{i}", c, r.References, r.Group)).ToList());
        if (best is null || e.Corpus.Cider > best.Value.Item2.Corpus.Cider) best = (c, e);
    }
    return best!.Value;
}

static string? ArgValue(string[] args, string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

sealed class Captioned
{
    public string Image1 { get; set; } = "";
    public string Group { get; set; } = "";
    public string[] References { get; set; } = [];
    public string PredictedCaption { get; set; } = "";
}

sealed class Referenced
{
    public string Group { get; set; } = "";
    public string[] References { get; set; } = [];
}
