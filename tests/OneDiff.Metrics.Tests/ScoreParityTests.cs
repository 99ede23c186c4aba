using System.Text.Json;
using OneDiff.Metrics;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Metrics.Tests;

/// <summary>Every case of tests/fixtures/caption-metrics scores as pycocoevalcap scored it.</summary>
public class ScoreParityTests
{
    public static TheoryData<string> Cases() => new(MetricsCase.Names());

    static CaptionEvaluation Evaluate(MetricsCase c) =>
        new CaptionEvaluator(new CaptionEvaluatorOptions { Tokenize = !c.Pretokenized })
            .Evaluate(c.Refs.Select(kv => new CaptionItem(kv.Key, c.Cands[kv.Key], kv.Value)).ToList());

    static readonly (string Key, Func<CaptionScores, double> Get, double Tolerance)[] Metrics =
    [
        ("Bleu_1", s => s.Bleu1, 1e-9), ("Bleu_2", s => s.Bleu2, 1e-9), ("Bleu_3", s => s.Bleu3, 1e-9), ("Bleu_4", s => s.Bleu4, 1e-9),
        ("ROUGE_L", s => s.RougeL, 1e-9), ("CIDEr", s => s.Cider, 1e-9), ("METEOR_noparaphrase", s => s.Meteor, 1e-6),
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void CorpusAndItemScoresEqualTheReference(string name)
    {
        var c = MetricsCase.Load(name);
        var result = Evaluate(c);
        var failures = new List<string>();
        foreach (var (key, get, tol) in Metrics)
        {
            double want = c.Expected.GetProperty(key).GetDouble();
            double got = get(result.Corpus);
            if (Math.Abs(got - want) > tol) failures.Add($"corpus {key}: got {got:R} want {want:R}");
        }
        if (c.Expected.TryGetProperty("_per_item", out var perItem))
            foreach (var item in perItem.EnumerateObject())
                foreach (var (key, get, tol) in Metrics)
                {
                    double want = item.Value.GetProperty(key).GetDouble();
                    double got = get(result.PerItem[item.Name]);
                    if (Math.Abs(got - want) > tol) failures.Add($"{item.Name} {key}: got {got:R} want {want:R}");
                }
        Assert.True(failures.Count == 0, $"{failures.Count} mismatches:\n" + string.Join("\n", failures.Take(40)));
        Assert.Equal(["exact", "stem", "synonym"], result.MeteorModules);
    }

    [Fact]
    public void PublishedDdlaPredictionsOnSpotTheDiffScoreAsPublished()
    {
        string input = TestPaths.RequireShared("data", "spot-the-diff", "ddla_scoring_input.json");
        string expectedPath = TestPaths.RequireShared("data", "spot-the-diff", "ddla_scores.expected.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(input));
        var refs = doc.RootElement.GetProperty("refs");
        var cands = doc.RootElement.GetProperty("cands");
        var items = refs.EnumerateObject().Select(p => new CaptionItem(p.Name, cands.GetProperty(p.Name).GetString()!,
            p.Value.EnumerateArray().Select(x => x.GetString()!).ToList())).ToList();
        var result = new CaptionEvaluator().Evaluate(items);
        using var expected = JsonDocument.Parse(File.ReadAllText(expectedPath));
        var failures = new List<string>();
        foreach (var (key, get, tol) in Metrics)
        {
            double want = expected.RootElement.GetProperty(key).GetDouble();
            double got = get(result.Corpus);
            if (Math.Abs(got - want) > tol) failures.Add($"{key}: got {got:R} want {want:R}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
