using OneDiff.Data.Readers;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Data.Tests;

/// <summary>The readers on the datasets' real annotation files (../shared/data; images are not
/// shipped, so image checks are off). Counts from ../shared/data/README.md.</summary>
public class RealDataTests
{
    static readonly ReadOptions NoImages = new() { CheckImages = false };

    [Theory]
    [InlineData("train", 9524, 8566)]
    [InlineData("val", 1634, 1493)]
    [InlineData("test", 1404, 1270)]
    public void SpotTheDiffUniqueIdsMatch(string split, int entries, int uniqueIds)
    {
        string root = TestPaths.RequireShared("data", "spot-the-diff");
        // The shared copy keeps the annotation files flat; the reader also accepts that layout.
        var report = new DataReport(BadInputMode.Skip);
        var records = new SpotTheDiffReader().Read(root, NoImages with { Split = split }, report);
        Assert.Equal(uniqueIds, records.Count + report.Skipped.Count);
        Assert.All(report.Skipped, p => Assert.Contains("no non-empty sentences", p.Message));
        Assert.True(entries > uniqueIds);
    }

    [Theory]
    [InlineData("train", 3061, 3061)]
    [InlineData("val", 383, 1149)]
    [InlineData("test", 495, 1485)]
    public void ImageEditingRequestCountsMatch(string split, int records, int sentences)
    {
        string root = TestPaths.RequireShared("data", "image-editing-request");
        var r = new ImageEditingRequestReader().Read(root, NoImages with { Split = split }, new DataReport());
        Assert.Equal(records, r.Count);
        Assert.Equal(sentences, r.Sum(x => x.Captions.Count));
    }

    [Fact]
    public void ClevrChangeSplitsAndTypesMatch()
    {
        string root = TestPaths.RequireShared("data", "clevr-change");
        Assert.Equal(33830, ClevrChangeReader.SplitIds(root, "train").Count);
        Assert.Equal(1988, ClevrChangeReader.SplitIds(root, "val").Count);
        Assert.Equal(3985, ClevrChangeReader.SplitIds(root, "test").Count);
        var types = ClevrChangeReader.ChangeTypes(root);
        Assert.Equal(["add", "color", "drop", "material", "move"], types.Values.Distinct().Order());
    }

    [Fact]
    public void Nlvr2DevKeepsTheTrueStatementsGroupedByPair()
    {
        string root = TestPaths.RequireShared("data", "nlvr2");
        Assert.Equal(6982, File.ReadLines(Path.Combine(root, "dev.json")).Count(l => l.Trim().Length > 0));
        var r = new Nlvr2Reader().Read(root, NoImages with { Split = "dev" }, new DataReport());
        Assert.Equal(2650, r.Count);
        Assert.Equal(3551, r.Sum(x => x.Captions.Count));
    }

    [Fact]
    public void LlavaQuotedRecordsReadAsCaptions()
    {
        string file = TestPaths.RequireShared("data", "llava", "quoted_records.json");
        var reader = new LlavaCaptionReader();
        var captions = reader.Read(file, Path.GetDirectoryName(file)!, new DataReport(), checkImages: false, arrayProperty: "lcs558k_records");
        Assert.Equal(2, captions.Count);
        Assert.Equal("a grey watch with an army style strap", captions[1].Caption);
    }

    [Fact]
    public void LlavaQuotedMix665kRecordsReadAsConversations()
    {
        string file = TestPaths.RequireShared("data", "llava", "quoted_records.json");
        var reader = new LlavaConversationReader();
        var conversations = reader.Read(file, Path.GetDirectoryName(file)!, new DataReport(), checkImages: false, arrayProperty: "mix665k_records");
        // Two with a COCO image, one text-only ShareGPT record.
        Assert.Equal(["000000033471", "000000052846"], conversations.Select(c => c.Id));
        Assert.Equal(1, reader.TextOnly);
        Assert.Equal("What are the colors of the bus in the image?", conversations[0].Turns[0].Question);
        Assert.Equal("The bus in the image is white and red.", conversations[0].Turns[0].Answer);
        Assert.True(conversations[0].Turns.Count > 1);
        Assert.All(conversations.SelectMany(c => c.Turns), t => Assert.DoesNotContain("<image>", t.Question));
    }
}
