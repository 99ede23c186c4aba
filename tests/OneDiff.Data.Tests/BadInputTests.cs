using OneDiff.Data.Formats;
using OneDiff.Data.Images;
using OneDiff.Data.Readers;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Data.Tests;

public class BadInputTests
{
    /// <summary>A DiffCap dataset with one good record and one record of each kind of bad input.</summary>
    static string Dataset()
    {
        string dir = TestPaths.NewTempDir("badset");
        Directory.CreateDirectory(Path.Combine(dir, "i"));
        ImageDecoder.SavePng(new RgbImage(4, 4, new byte[48]), Path.Combine(dir, "i/good.png"));
        var good = File.ReadAllBytes(Path.Combine(dir, "i/good.png"));
        File.WriteAllBytes(Path.Combine(dir, "i/empty.png"), []);
        File.WriteAllBytes(Path.Combine(dir, "i/truncated.png"), good[..(good.Length / 2)]);
        File.WriteAllBytes(Path.Combine(dir, "i/noise.png"), "definitely not a png"u8.ToArray());
        File.WriteAllBytes(Path.Combine(dir, "i/scan.tiff"), good);
        File.WriteAllLines(Path.Combine(dir, "train.jsonl"),
        [
            """{"id": "ok", "image1": "i/good.png", "image2": "i/good.png", "captions": ["fine"]}""",
            """{"id": "missing", "image1": "i/good.png", "image2": "i/nope.png", "captions": ["x"]}""",
            """{"id": "empty", "image1": "i/empty.png", "image2": "i/good.png", "captions": ["x"]}""",
            """{"id": "truncated", "image1": "i/truncated.png", "image2": "i/good.png", "captions": ["x"]}""",
            """{"id": "undecodable", "image1": "i/noise.png", "image2": "i/good.png", "captions": ["x"]}""",
            """{"id": "format", "image1": "i/scan.tiff", "image2": "i/good.png", "captions": ["x"]}""",
            """{"id": "escape", "image1": "../../etc/passwd.png", "image2": "i/good.png", "captions": ["x"]}""",
            """{"id": "nocaption", "image1": "i/good.png", "image2": "i/good.png", "captions": ["  "]}""",
        ]);
        return dir;
    }

    [Theory]
    [InlineData("missing", "nope.png")]
    [InlineData("empty", "empty.png")]
    [InlineData("truncated", "truncated.png")]
    [InlineData("undecodable", "noise.png")]
    [InlineData("format", "scan.tiff")]
    [InlineData("escape", "passwd.png")]
    [InlineData("nocaption", "train.jsonl")]
    public void EachBadInputIsAnErrorNamingTheRecordAndTheFile(string id, string file)
    {
        string dir = Dataset();
        var lines = File.ReadAllLines(Path.Combine(dir, "train.jsonl"));
        File.WriteAllLines(Path.Combine(dir, "train.jsonl"), lines.Where(l => l.Contains($"\"{id}\"") || l.Contains("\"ok\"")));
        var report = new DataReport(BadInputMode.Error);
        var e = Assert.Throws<DataException>(() =>
        {
            var records = new DiffCapReader().Read(dir, new ReadOptions(), report);
            foreach (var _ in PairPreprocessor.PrepareAll(records, new ClipImageProcessor(8), report)) { }
        });
        Assert.Contains(id, e.Message);
        Assert.Contains(file, e.Message);
    }

    [Fact]
    public void SkipModeKeepsTheGoodRecordAndReportsEverySkippedOne()
    {
        string dir = Dataset();
        var report = new DataReport(BadInputMode.Skip);
        var records = new DiffCapReader().Read(dir, new ReadOptions(), report);
        var prepared = PairPreprocessor.PrepareAll(records, new ClipImageProcessor(8), report).ToList();
        Assert.Equal(["ok"], prepared.Select(p => p.Record.Id));
        Assert.Equal(7, report.Skipped.Count);
        foreach (var id in new[] { "missing", "empty", "truncated", "undecodable", "format", "escape", "nocaption" })
            Assert.Contains(report.Skipped, p => p.Record.Contains(id));
    }

    [Fact]
    public void InspectionCountsAndListsProblems()
    {
        string dir = Dataset();
        var result = DatasetInspector.Inspect("diffcap", dir, "train");
        Assert.Equal(1, result.Records);
        Assert.Equal(1, result.References);
        Assert.Equal(7, result.Problems.Count);
    }
}
