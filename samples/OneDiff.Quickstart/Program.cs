// OneDiff.MLNet quickstart. Until the trainer lands (see the open issues), this shows the parts
// that work end to end: the device choice, and scoring difference captions inside an ML.NET
// pipeline exactly as the papers' pycocoevalcap does, overall and per change type.
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using OneDiff.MLNet;

string? metricsOut = ArgValue(args, "--metrics-out");
var ml = new MLContext(seed: 1);
var catalog = ml.DiffCaptioning();
var device = catalog.ResolveDevice(ArgValue(args, "--device") ?? "auto");
Console.WriteLine($"device: {device.Name} ({device.Reason})");

// A small scored set: references written by people, and the captions a model produced.
var rows = new[]
{
    new ScoredPair("remove", ["the red car is gone", "a red car has left the lot"], "the red car is gone"),
    new ScoredPair("remove", ["the person in the white shirt left", "a man walked away"], "the man is gone"),
    new ScoredPair("add", ["a blue truck appeared on the left", "there is now a truck on the left"], "a truck has appeared on the left"),
    new ScoredPair("add", ["two people are now standing by the door"], "a person appeared near the door"),
    new ScoredPair("move", ["the green cone moved to the right", "the cone was moved right"], "the cone moved to the right"),
    new ScoredPair("move", ["the van drove further up the road"], "the van moved up"),
    new ScoredPair("recolour", ["the umbrella changed from red to blue"], "the red umbrella is now blue"),
    new ScoredPair("recolour", ["the door is painted green now", "the door became green"], "the door is now green"),
};
var data = ml.Data.LoadFromEnumerable(rows);
var metrics = catalog.Evaluate(data, nameof(ScoredPair.References), nameof(ScoredPair.PredictedCaption), nameof(ScoredPair.ChangeType));
Console.WriteLine(metrics.ToTable());

if (metricsOut is not null)
{
    var doc = new
    {
        overall = Scores(metrics),
        per_type = metrics.PerGroup.ToDictionary(g => g.Key, g => Scores(g.Value)),
        device = device.Name,
    };
    File.WriteAllText(metricsOut, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine($"metrics written to {metricsOut}");
}
return 0;

static Dictionary<string, double> Scores(DiffCaptionMetrics m) => new()
{
    ["Bleu_4"] = m.Bleu4, ["METEOR"] = m.Meteor, ["ROUGE_L"] = m.RougeL, ["CIDEr"] = m.Cider,
};

static string? ArgValue(string[] args, string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

sealed record ScoredPair(string ChangeType, [property: VectorType] string[] References, string PredictedCaption);
