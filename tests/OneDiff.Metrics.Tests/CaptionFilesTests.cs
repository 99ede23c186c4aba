using OneDiff.Metrics;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Metrics.Tests;

public class CaptionFilesTests
{
    static string Write(string name, string json)
    {
        string path = Path.Combine(TestPaths.NewTempDir("files"), name);
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void PredictionsWithoutReferencesAndReferencesWithoutPredictionsAreNamed()
    {
        string path = Write("x.json", """{"refs": {"a": ["x y"], "b": ["z"]}, "cands": {"a": "x", "c": "q"}}""");
        var e = Assert.Throws<InvalidDataException>(() => CaptionFiles.LoadRefsCands(path));
        Assert.Contains("prediction id(s) have no references: c", e.Message);
        Assert.Contains("reference id(s) have no prediction: b", e.Message);
    }

    [Fact]
    public void CocoFilesJoinByImageIdAndRejectDuplicatePredictions()
    {
        string refs = Write("refs.json", """{"annotations": [{"image_id": 1, "caption": "a car"}, {"image_id": 1, "caption": "the car"}, {"image_id": 2, "caption": "a man"}]}""");
        string preds = Write("preds.json", """[{"image_id": 1, "caption": "a car"}, {"image_id": 2, "caption": "a dog"}]""");
        var items = CaptionFiles.LoadCoco(refs, preds);
        Assert.Equal(2, items.Count);
        Assert.Equal(2, items.Single(i => i.Id == "1").References.Count);
        string dup = Write("dup.json", """[{"image_id": 1, "caption": "a"}, {"image_id": 1, "caption": "b"}]""");
        var e = Assert.Throws<InvalidDataException>(() => CaptionFiles.LoadCoco(refs, dup));
        Assert.Contains("image_id 1", e.Message);
    }

    [Fact]
    public void MalformedFilesNameTheFile()
    {
        string bad = Write("bad.json", "{not json");
        Assert.Contains(bad, Assert.Throws<InvalidDataException>(() => CaptionFiles.LoadRefsCands(bad)).Message);
        string wrong = Write("wrong.json", """{"refs": {"a": "not a list"}, "cands": {"a": "x"}}""");
        Assert.Contains("refs[\"a\"]", Assert.Throws<InvalidDataException>(() => CaptionFiles.LoadRefsCands(wrong)).Message);
    }

    [Fact]
    public void EdgeInputsGiveTheReferenceAnswersNotExceptions()
    {
        var evaluator = new CaptionEvaluator();
        var single = evaluator.Evaluate([new CaptionItem("only", "a red car", ["a red car"])]);
        Assert.Equal(0.0, single.Corpus.Cider); // log(1 document) = 0, as pycocoevalcap
        var empty = evaluator.Evaluate([new CaptionItem("a", "", ["the car"]), new CaptionItem("b", "the car", [""])]);
        Assert.Equal(0.0, empty.PerItem["a"].Meteor);
        Assert.Equal(0.0, empty.PerItem["a"].RougeL);
        var unicode = evaluator.Evaluate([new CaptionItem("u", "the café 🚗 車", ["the café"]), new CaptionItem("v", "naïve", ["naïve"])]);
        Assert.True(unicode.PerItem["v"].Bleu1 > 0.99);
    }

    [Fact]
    public void GroupsAreReportedInTheTableAndJson()
    {
        var e = new CaptionEvaluator().Evaluate([
            new CaptionItem("1", "the car is gone", ["the car is gone"], "remove"),
            new CaptionItem("2", "a man appeared", ["a man has appeared"], "add"),
            new CaptionItem("3", "a dog appeared", ["a cat has appeared"], "add"),
        ]);
        Assert.Equal(2, e.GroupSizes["add"]);
        string table = CaptionReport.ToTable(e);
        Assert.Contains("remove", table);
        string json = CaptionReport.ToJson(e, perItem: true);
        Assert.Contains("\"per_group\"", json);
        Assert.Contains("\"METEOR_modules\"", json);
        Assert.Contains("\"Bleu_4\"", json);
    }

    [Fact]
    public void WrittenCocoFilesReadBackAsTheSameItems()
    {
        string dir = TestPaths.NewTempDir("files");
        // Ids as the datasets spell them (CLEVR-Change's "<n>.png_n", numbers kept as text), quotes,
        // non-ASCII text and a caption with a newline.
        var items = new List<CaptionItem>
        {
            new("000123.png_n", "nothing has changed", ["no change", "the scene is the same"], "no-change"),
            new("235", "the \"red\" car left\nthe lot", ["the car is gone"], "spot"),
            new("b2w-7", "animal1 a un bec plus long, café", ["animal1 has a longer beak"], "birds"),
        };
        string refs = Path.Combine(dir, "sub", "references.json"), preds = Path.Combine(dir, "sub", "predictions.json"), groups = Path.Combine(dir, "groups.json");
        CaptionFiles.WriteCocoReferences(refs, items.Select(i => (i.Id, i.References)));
        CaptionFiles.WriteCocoResults(preds, items.Select(i => (i.Id, i.Candidate)));
        CaptionFiles.WriteGroups(groups, items.Select(i => (i.Id, i.Group!)));
        var back = CaptionFiles.LoadCoco(refs, preds, CaptionFiles.LoadGroups(groups));
        Assert.Equal(items.Select(i => (i.Id, i.Candidate, string.Join("|", i.References), i.Group)),
            back.Select(i => (i.Id, i.Candidate, string.Join("|", i.References), i.Group)));

        // pycocotools' COCO needs "images" and a distinct "id" per annotation.
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(refs));
        Assert.Equal(items.Select(i => i.Id), doc.RootElement.GetProperty("images").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
        var annotationIds = doc.RootElement.GetProperty("annotations").EnumerateArray().Select(e => e.GetProperty("id").GetInt32()).ToList();
        Assert.Equal(4, annotationIds.Distinct().Count());
    }
}
