using System.Text.Json.Nodes;
using OneDiff.Data.Construction;
using OneDiff.Data.Formats;
using OneDiff.Data.Readers;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Data.Tests;

/// <summary>DiffCap construction: the caption-overlap rule, request templates and the synthetic candidates.</summary>
public class ConstructionTests
{
    [Theory]
    // A repeat with a word more or less: dropped at the default 0.75.
    [InlineData("A man riding a wave on top of a surfboard.", "A man riding a wave on a surfboard.", 0.8)]
    [InlineData("a man riding a wave", "a man riding a big wave", 0.75)]
    [InlineData("Two dogs play in the snow", "two dogs play in the snow!", 1.0)]
    // One content word changed, or different scenes: kept.
    [InlineData("a dog sitting on a couch", "a cat sitting on a couch", 0.5)]
    [InlineData("a red bus parked on a street", "a kitchen with a white refrigerator", 0.0)]
    public void CaptionOverlapIsTheJaccardOfContentWords(string a, string b, double expected)
    {
        Assert.Equal(expected, CaptionOverlap.Of(a, b), 6);
        Assert.Equal(expected >= CaptionOverlap.DefaultMax, CaptionOverlap.Of(a, b) >= CaptionOverlap.DefaultMax);
    }

    [Fact]
    public void ARequestTemplateFillsItsPlaceholdersAndRefusesOthers()
    {
        string filled = RequestTemplate.Synthetic.Fill(new Dictionary<string, string> { ["input"] = "a serene lake scene", ["output"] = "a serene lake scene with a kayak", ["edit"] = "add a kayak" });
        Assert.Contains("The original image: a serene lake scene\n", filled);
        Assert.Contains("The instruction: add a kayak\n", filled);
        Assert.DoesNotContain("{", filled);
        Assert.Equal(DiffCapCandidates.Request("a cat", "a dog"), RequestTemplate.Real.Fill(new Dictionary<string, string> { ["caption1"] = "a cat", ["caption2"] = "a dog" }));

        string dir = TestPaths.NewTempDir("template");
        string mine = Path.Combine(dir, "mine.txt");
        File.WriteAllText(mine, "Before: {caption1}. After: {caption2}. What changed?");
        Assert.Equal("Before: a cat. After: a dog. What changed?", RequestTemplate.Load(mine, RequestTemplate.Real).Fill(new Dictionary<string, string> { ["caption1"] = "a cat", ["caption2"] = "a dog" }));
        File.WriteAllText(mine, "Before: {caption1}. Edit: {edit}.");
        var e = Assert.Throws<InvalidDataException>(() => RequestTemplate.Load(mine, RequestTemplate.Real));
        Assert.Contains(mine, e.Message);
        Assert.Contains("{edit}", e.Message);
    }

    [Fact]
    public void InstructPix2PixFoldersGiveSyntheticCandidatesWithAllThreePrompts()
    {
        string root = TestPaths.NewTempDir("ip2p-edit");
        void Folder(string name, string? json, params string[] seeds)
        {
            Directory.CreateDirectory(Path.Combine(root, name));
            if (json is not null) File.WriteAllText(Path.Combine(root, name, "prompt.json"), json);
            foreach (var s in seeds) { File.WriteAllBytes(Path.Combine(root, name, $"{s}_0.jpg"), [1]); File.WriteAllBytes(Path.Combine(root, name, $"{s}_1.jpg"), [2]); }
        }
        Folder("0001", """{"input": "a serene lake scene", "edit": "add a kayak", "output": "a serene lake scene with a kayak"}""", "11", "12");
        Folder("0002", """{"input": "a house", "edit": "make it snowy"}""", "5");
        Folder("0003", null, "7");

        var strict = new DataReport(BadInputMode.Error);
        var e = Assert.Throws<DataException>(() => new InstructPix2PixReader().ReadEditPairs(root, strict));
        Assert.Contains("folder 0002", e.Message);
        Assert.Contains("\"output\"", e.Message);

        var report = new DataReport(BadInputMode.Skip);
        var pairs = new InstructPix2PixReader().ReadEditPairs(root, report);
        Assert.Equal(["0001/11", "0001/12"], pairs.Select(p => p.Id));
        Assert.Equal(["folder 0002", "folder 0003"], report.Skipped.Select(p => p.Record));
        string file = Path.Combine(root, "out", "candidates.jsonl");
        DiffCapCandidates.WriteEdits(file, pairs);
        var lines = File.ReadAllLines(file).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Equal("diffcap-synthetic", lines[0]["task"]!.GetValue<string>());
        Assert.Equal("diffcap-synthetic", lines[0]["source"]!.GetValue<string>());
        Assert.Equal("add a kayak", lines[0]["edit"]!.GetValue<string>());
        Assert.Contains("a serene lake scene with a kayak", lines[0]["request"]!.GetValue<string>());
        Assert.Equal(Path.Combine(root, "0001", "11_0.jpg"), Path.GetFullPath(Path.Combine(root, "out", lines[0]["image1"]!.GetValue<string>())));
        Assert.Empty(lines[0]["captions"]!.AsArray());
    }

    [Fact]
    public void FillCaptionsNamesACandidateListedTwice()
    {
        string dir = TestPaths.NewTempDir("fill-twice");
        string candidates = Path.Combine(dir, "c.jsonl");
        File.WriteAllLines(candidates, [
            """{"id": "a~b", "image1": "a.png", "image2": "b.png", "captions": [], "request": "r1"}""",
            """{"id": "a~b", "image1": "a.png", "image2": "b.png", "captions": [], "request": "r1"}""",
        ]);
        var report = new DataReport(BadInputMode.Skip);
        int written = ChatBatch.FillCaptions(candidates, new Dictionary<string, string> { ["a~b"] = "the cat left" }, Path.Combine(dir, "out.jsonl"), report);
        Assert.Equal(1, written);
        Assert.Contains("c.jsonl line 2 (id a~b)", Assert.Single(report.Skipped).Record);
    }
}
