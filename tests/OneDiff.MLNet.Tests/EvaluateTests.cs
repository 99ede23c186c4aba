using Microsoft.ML;
using Microsoft.ML.Data;
using OneDiff.Metrics;
using OneDiff.MLNet;
using Xunit;

namespace OneDiff.MLNet.Tests;

public class EvaluateTests
{
    sealed class Row
    {
        [VectorType] public string[] References { get; set; } = [];
        public string PredictedCaption { get; set; } = "";
        public string Group { get; set; } = "";
    }

    static readonly Row[] Rows =
    [
        new() { References = ["the red car is gone", "a red car left"], PredictedCaption = "the red car is gone", Group = "remove" },
        new() { References = ["a man appeared", "there is a new man"], PredictedCaption = "a man has appeared", Group = "add" },
        new() { References = ["the blue truck moved left"], PredictedCaption = "the truck moved", Group = "move" },
        new() { References = ["a bike was added", "someone added a bike"], PredictedCaption = "the car is gone", Group = "add" },
    ];

    [Fact]
    public void ScoresEqualTheCaptionEvaluatorAndGroupsAreScoredAsSets()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(Rows);
        var metrics = ml.DiffCaptioning().Evaluate(data, "References", "PredictedCaption", "Group");
        var direct = new CaptionEvaluator().Evaluate(Rows.Select((r, i) => new CaptionItem($"{i}", r.PredictedCaption, r.References, r.Group)).ToList());
        Assert.Equal(direct.Corpus.Cider, metrics.Cider, 12);
        Assert.Equal(direct.Corpus.Meteor, metrics.Meteor, 12);
        Assert.Equal(direct.Corpus.Bleu4, metrics.Bleu4, 12);
        Assert.Equal(4, metrics.Count);
        Assert.Equal(["add", "move", "remove"], metrics.PerGroup.Keys.Order());
        Assert.Equal(2, metrics.PerGroup["add"].Count);
        var addOnly = new CaptionEvaluator().Evaluate(Rows.Where(r => r.Group == "add").Select((r, i) => new CaptionItem($"{i}", r.PredictedCaption, r.References)).ToList());
        Assert.Equal(addOnly.Corpus.RougeL, metrics.PerGroup["add"].RougeL, 12);
        Assert.Contains("remove", metrics.ToTable());
        Assert.Equal(["exact", "stem", "synonym"], metrics.MeteorModules);
    }

    [Fact]
    public void MissingOrMistypedColumnsAreNamed()
    {
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable(Rows);
        var missing = Assert.Throws<ArgumentException>(() => ml.DiffCaptioning().Evaluate(data, "Refs", "PredictedCaption"));
        Assert.Contains("'Refs'", missing.Message);
        Assert.Contains("References", missing.Message);
        var numbers = ml.Data.LoadFromEnumerable(new[] { new { References = "a", Score = 1f } });
        var mistyped = Assert.Throws<ArgumentException>(() => ml.DiffCaptioning().Evaluate(numbers, "References", "Score"));
        Assert.Contains("'Score'", mistyped.Message);
    }

    [Fact]
    public void AnEmptyDataViewIsAClearError()
    {
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable(Array.Empty<Row>());
        var e = Assert.Throws<InvalidOperationException>(() => ml.DiffCaptioning().Evaluate(data));
        Assert.Contains("no rows", e.Message);
    }
}
