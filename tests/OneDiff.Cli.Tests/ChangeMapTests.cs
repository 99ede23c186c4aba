using Microsoft.ML;
using Microsoft.ML.Data;
using OneDiff.Cli.Commands;
using OneDiff.Data.Images;
using OneDiff.MLNet;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

/// <summary>Change maps through ML.NET (columns only when asked for) and the command line
/// (<c>caption --map/--maps</c>, <c>evaluate --localization</c>), with the overfit Tiny model.</summary>
[Collection(OverfitCollection.Name)]
public class ChangeMapTests(OverfitFixture f)
{
    sealed class Mapped
    {
        public string Id { get; set; } = "";
        public string PredictedCaption { get; set; } = "";
        public float[] BeforeMap { get; set; } = [];
        public float[] AfterMap { get; set; } = [];
    }

    sealed class MappedRow
    {
        public string Image1 { get; set; } = "";
        public string Image2 { get; set; } = "";
        public string PredictedCaption { get; set; } = "";
        public float[] BeforeMap { get; set; } = [];
        public float[] AfterMap { get; set; } = [];
    }

    [Fact]
    public void WithoutTheOptionTheOutputHasNoMapColumns()
    {
        using var plain = f.Ml.DiffCaptioning().LoadTransformer(f.ModelFile);
        Assert.Null(plain.Settings.ChangeMaps);
        var schema = plain.GetOutputSchema(f.Data.Schema);
        Assert.Null(schema.GetColumnOrNull("BeforeMap"));
        Assert.Null(schema.GetColumnOrNull("AfterMap"));
        Assert.Equal("PredictedCaption", schema[^1].Name);
    }

    [Theory]
    [InlineData(ChangeMapMethod.GradientTimesInput)]
    [InlineData(ChangeMapMethod.DeltaAttention)]
    public void AskedForTheMapsAreVectorColumnsOverThePatchGridBesideTheSameCaptions(ChangeMapMethod method)
    {
        using var mapped = f.Ml.DiffCaptioning().LoadTransformer(f.ModelFile, new CaptioningOverrides { ChangeMaps = method });
        var schema = mapped.GetOutputSchema(f.Data.Schema);
        var column = schema["BeforeMap"];
        Assert.Equal(16, ((VectorDataViewType)column.Type).Size); // the Tiny tower's 4 x 4 patches
        Assert.Equal(4, mapped.MapGridSize);
        var rows = f.Ml.Data.CreateEnumerable<Mapped>(mapped.Transform(f.Data), reuseRowObject: false).ToList();
        Assert.Equal(f.Pairs.Select(p => p.Caption), rows.Select(r => r.PredictedCaption));
        Assert.All(rows, r =>
        {
            Assert.Equal(16, r.BeforeMap.Length);
            Assert.Equal(1f, r.BeforeMap.Sum(), 4);
            Assert.Equal(1f, r.AfterMap.Sum(), 4);
            Assert.All(r.BeforeMap.Concat(r.AfterMap), v => Assert.True(v >= 0));
        });

        // A PredictionEngine gives the same maps for a row.
        var engine = f.Ml.Model.CreatePredictionEngine<MappedRow, MappedRow>(mapped);
        var one = engine.Predict(new MappedRow { Image1 = f.Pairs[2].A, Image2 = f.Pairs[2].B });
        Assert.Equal(rows[2].PredictedCaption, one.PredictedCaption);
        Assert.Equal(rows[2].BeforeMap, one.BeforeMap, (x, y) => Math.Abs(x - y) < 1e-4);
    }

    [Fact]
    public void MapsTurnedOnAreSavedWithTheModelAndTurnedOffAgainOnLoad()
    {
        string file = Path.Combine(TestPaths.NewTempDir("mapped-model"), "mapped.zip");
        using (var mapped = f.Ml.DiffCaptioning().LoadTransformer(f.ModelFile).WithChangeMaps(ChangeMapMethod.DeltaAttention))
            f.Ml.Model.Save(mapped, f.Data.Schema, file);
        using (var loaded = f.Ml.DiffCaptioning().LoadTransformer(file))
        {
            Assert.Equal(ChangeMapMethod.DeltaAttention, loaded.Settings.ChangeMaps);
            Assert.NotNull(loaded.GetOutputSchema(f.Data.Schema).GetColumnOrNull("AfterMap"));
            Assert.Null(loaded.WithChangeMaps(null).GetOutputSchema(f.Data.Schema).GetColumnOrNull("AfterMap"));
        }
    }

    [Fact]
    public void CaptionWritesTheMapPictureForOnePairAndOnePerPairForMany()
    {
        string dir = TestPaths.NewTempDir("maps");
        string png = Path.Combine(dir, "one.png");
        var (code, output, err) = CliRunner.Run(CaptionCommand.Create(), "--model", f.ModelFile, "--before", f.Pairs[0].A, "--after", f.Pairs[0].B, "--map", png);
        Assert.True(code == 0, err);
        Assert.Equal(f.Pairs[0].Caption, output.Trim());
        var picture = ImageDecoder.Decode(png);
        Assert.True(picture.Width > 640 && picture.Height > 320, $"{picture.Width} x {picture.Height}");

        string pairs = Path.Combine(dir, "pairs.tsv");
        File.WriteAllLines(pairs, f.Pairs.Take(3).Select((p, i) => $"{p.A}\t{p.B}\tp/{i}"));
        var (code2, _, err2) = CliRunner.Run(CaptionCommand.Create(), "--model", f.ModelFile, "--pairs", pairs, "--maps", Path.Combine(dir, "all"), "--map-method", "attention");
        Assert.True(code2 == 0, err2);
        Assert.Equal(["p_0.png", "p_1.png", "p_2.png"], Directory.GetFiles(Path.Combine(dir, "all")).Select(Path.GetFileName).Order());

        var (code3, _, err3) = CliRunner.Run(CaptionCommand.Create(), "--model", f.ModelFile, "--pairs", pairs, "--map", png);
        Assert.Equal(2, code3);
        Assert.Contains("--map FILE is for one pair, --maps FOLDER for many", err3);

        var (code4, _, err4) = CliRunner.Run(CaptionCommand.Create(), "--model", f.ModelFile, "--pairs", pairs, "--maps", dir, "--map-method", "saliency");
        Assert.Equal(2, code4);
        Assert.Contains("--map-method must be gradient or attention, not 'saliency'", err4);
    }

    [Fact]
    public void EvaluateLocalizationScoresEachMethodAndTheBaselinesPerChangeType()
    {
        var (code, output, err) = CliRunner.Run(EvaluateCommand.Create(), "--model", f.ModelFile, "--format", "diffcap", "--root", f.Folder, "--split", "train", "--localization");
        Assert.True(code == 0, err);
        Assert.Contains("pointing game (%)", output);
        Assert.Contains("mass inside the boxes (%)", output);
        foreach (var column in new[] { "gradient x input", "delta attention", "pixel difference", "uniform" }) Assert.Contains(column, output);
        // The 8 pairs cycle through the change types; the one without change is left out.
        Assert.Contains("(1 without change, left out: nothing to point at)", output);
        Assert.Contains("move (1)", output);

        // A file whose records do not say where their changes are is named.
        string dir = TestPaths.NewTempDir("unlocated");
        var records = OneDiff.Data.Formats.DiffCapJsonl.Read(Path.Combine(f.Folder, "train.jsonl")).Select(r => r with { Locations = null });
        OneDiff.Data.Formats.DiffCapJsonl.Write(Path.Combine(dir, "train.jsonl"), records);
        var (code2, _, err2) = CliRunner.Run(EvaluateCommand.Create(), "--model", f.ModelFile, "--format", "diffcap", "--root", dir, "--split", "train", "--localization");
        Assert.Equal(1, code2);
        Assert.Contains("id 000000: the record does not say where its changes are", err2);
    }
}
