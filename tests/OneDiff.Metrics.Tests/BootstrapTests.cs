using System.Text.Json;
using Xunit;

namespace OneDiff.Metrics.Tests;

public class BootstrapTests
{
    static List<CaptionItem> Medium(int copies = 1)
    {
        var c = MetricsCase.Load("medium");
        return Enumerable.Range(0, copies).SelectMany(k => c.Cands.Select((kv, i) =>
            new CaptionItem($"{kv.Key}#{k}", kv.Value, c.Refs[kv.Key], i % 3 == 0 ? "even" : "odd"))).ToList();
    }

    static CaptionEvaluation Evaluate(IReadOnlyList<CaptionItem> items, int resamples = 300, bool meteor = true) =>
        new CaptionEvaluator(new CaptionEvaluatorOptions { BootstrapResamples = resamples, Meteor = meteor }).Evaluate(items);

    static IEnumerable<(string Metric, double Low, double Point, double High)> Ends(CaptionScores point, ScoreInterval interval) =>
        point.ToDictionary().Select(kv => (kv.Key, interval.Low.ToDictionary()[kv.Key], kv.Value, interval.High.ToDictionary()[kv.Key]));

    [Fact]
    public void IntervalsSurroundTheScoresOverallAndPerGroupAndRepeatExactly()
    {
        var items = Medium();
        var e = Evaluate(items);
        Assert.Equal((0.95, 300), (e.CorpusInterval!.Confidence, e.CorpusInterval.Resamples));
        var sets = new List<(CaptionScores, ScoreInterval)> { (e.Corpus, e.CorpusInterval) };
        sets.AddRange(e.PerGroup.Select(g => (g.Value, e.GroupIntervals![g.Key])));
        Assert.Equal(3, sets.Count);
        foreach (var (point, interval) in sets)
            foreach (var (metric, low, value, high) in Ends(point, interval))
                Assert.True(low < value && value < high, $"{metric}: {low} {value} {high}");
        // Seeded: the same captions give the same intervals; the scores themselves do not change.
        var again = Evaluate(items);
        Assert.Equal(e.CorpusInterval, again.CorpusInterval);
        Assert.Equal(e.GroupIntervals!["odd"], again.GroupIntervals!["odd"]);
        Assert.Equal(new CaptionEvaluator(new CaptionEvaluatorOptions()).Evaluate(items).Corpus, e.Corpus);
    }

    [Fact]
    public void FourTimesTheItemsGiveAboutHalfTheWidth()
    {
        double Width(CaptionEvaluation e, Func<CaptionScores, double> metric) => metric(e.CorpusInterval!.High) - metric(e.CorpusInterval.Low);
        var one = Evaluate(Medium(1), meteor: false);
        var four = Evaluate(Medium(4), meteor: false);
        Assert.Equal(one.Corpus.Bleu4, four.Corpus.Bleu4, 9); // the same captions four times: the same counts
        foreach (var metric in new Func<CaptionScores, double>[] { s => s.Bleu4, s => s.RougeL, s => s.Cider })
        {
            double ratio = Width(four, metric) / Width(one, metric);
            Assert.InRange(ratio, 0.35, 0.7);
        }
    }

    [Fact]
    public void WithoutSpreadTheIntervalIsAPoint()
    {
        var items = Enumerable.Range(0, 20).Select(i => new CaptionItem($"{i}", "the red car is gone", ["the red car is gone"], i == 0 ? "alone" : null)).ToList();
        var e = Evaluate(items);
        Assert.Equal(e.CorpusInterval!.Low, e.CorpusInterval.High);
        Assert.Equal(1.0, e.CorpusInterval.Low.RougeL, 9);
        Assert.Equal(e.PerGroup["alone"], e.GroupIntervals!["alone"].Low);
    }

    [Fact]
    public void JsonHasEachIntervalAndLeavesOutScoresNotComputed()
    {
        var e = Evaluate(Medium(), resamples: 50, meteor: false);
        using var doc = JsonDocument.Parse(CaptionReport.ToJson(e));
        var root = doc.RootElement;
        Assert.False(root.TryGetProperty("METEOR", out _), "METEOR was skipped, so it has no key (and no NaN, which JSON cannot hold)");
        Assert.Equal(e.CorpusInterval!.Low.Cider, root.GetProperty("interval").GetProperty("CIDEr")[0].GetDouble());
        Assert.Equal(50, root.GetProperty("per_group").GetProperty("odd").GetProperty("interval").GetProperty("resamples").GetInt32());
        Assert.Contains("95% bootstrap intervals (50 resamples):", CaptionReport.ToTable(e));
        Assert.Throws<ArgumentException>(() => new CaptionEvaluator(new CaptionEvaluatorOptions { BootstrapResamples = -1 }).Evaluate(Medium()));
    }
}

public class ComparisonTests
{
    static List<CaptionItem> Medium(Func<string, string>? change = null)
    {
        var c = MetricsCase.Load("medium");
        return c.Cands.Select(kv => new CaptionItem(kv.Key, change is null ? kv.Value : change(kv.Value), c.Refs[kv.Key])).ToList();
    }

    static readonly CaptionEvaluator Evaluator = new(new CaptionEvaluatorOptions { BootstrapResamples = 300, Meteor = false });

    [Fact]
    public void AWorseSystemIsBelowWithAnIntervalThatLeavesOutZero()
    {
        // B keeps the first three words of each of A's captions.
        var a = Medium();
        var b = Medium(x => string.Join(' ', x.Split(' ').Take(3)));
        var c = Evaluator.Compare(a, b);
        Assert.Equal(Evaluator.Evaluate(a).Corpus, c.A);
        Assert.Equal(Evaluator.Evaluate(b).Corpus, c.B);
        Assert.Equal(c.B.Cider - c.A.Cider, c.Difference.Cider, 12);
        foreach (var metric in new Func<CaptionScores, double>[] { s => s.Bleu4, s => s.RougeL, s => s.Cider })
        {
            Assert.True(metric(c.DifferenceInterval.High) < 0, "the whole interval of B - A is below zero");
            Assert.True(metric(c.BFraction) < 0.01);
        }
        // The other way round, the same numbers mirrored; the order of the items does not matter.
        var reversed = Evaluator.Compare(Enumerable.Reverse(b).ToList(), a);
        Assert.Equal(-c.Difference.Cider, reversed.Difference.Cider, 12);
    }

    [Fact]
    public void GroupsAreComparedEachAsItsOwnSet()
    {
        var a = Medium().Select((x, i) => x with { Group = i % 2 == 0 ? "even" : "odd" }).ToList();
        var b = Medium(x => string.Join(' ', x.Split(' ').Take(3))).Select((x, i) => x with { Group = i % 2 == 0 ? "even" : "odd" }).ToList();
        var c = Evaluator.Compare(a, b);
        Assert.Equal(["even", "odd"], c.PerGroup!.Keys.Order());
        Assert.Equal(Evaluator.Evaluate(a).PerGroup["odd"], c.PerGroup["odd"].A);
        Assert.Equal(Evaluator.Evaluate(b).PerGroup["even"], c.PerGroup["even"].B);
        Assert.Null(Evaluator.Compare(Medium(), Medium()).PerGroup);
        Assert.Contains("\neven ", CaptionReport.ToTable(c));
    }

    [Fact]
    public void TheSameCaptionsDifferByNothing()
    {
        var c = Evaluator.Compare(Medium(), Medium());
        Assert.Equal(0, c.Difference.Cider);
        Assert.Equal((0.0, 0.0), (c.DifferenceInterval.Low.Cider, c.DifferenceInterval.High.Cider));
        Assert.Equal(0, c.BFraction.Bleu4);
    }

    [Fact]
    public void SetsOfOtherItemsOrReferencesAreRefusedNamingTheItem()
    {
        var a = Medium();
        var missing = Assert.Throws<ArgumentException>(() => Evaluator.Compare(a, a.Skip(1).ToList()));
        Assert.Contains($"item '{a[0].Id}' is in the first set of captions only", missing.Message);
        var other = a.Select((x, i) => i == 3 ? x with { References = ["something else"] } : x).ToList();
        Assert.Contains($"item '{a[3].Id}' has other references", Assert.Throws<ArgumentException>(() => Evaluator.Compare(a, other)).Message);
        var extra = a.Append(new CaptionItem("new", "a cat", ["a cat"])).ToList();
        Assert.Contains("item 'new' is in the second set of captions only", Assert.Throws<ArgumentException>(() => Evaluator.Compare(a, extra)).Message);
    }
}
