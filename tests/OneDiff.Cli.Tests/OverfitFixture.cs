using Microsoft.ML;
using OneDiff.Data.Formats;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

/// <summary>Trains a Tiny model once on 8 procedural pairs (one reference each) and checks it.</summary>
public sealed class OverfitFixture
{
    public string Folder { get; }
    public MLContext Ml { get; } = new(seed: 1);
    public IDataView Data { get; }
    public DiffCaptionTransformer Model { get; }
    public DiffCaptionTrainer Trainer { get; }
    public List<(string A, string B, string Caption)> Pairs { get; }

    public OverfitFixture()
    {
        Folder = TestPaths.NewTempDir("overfit");
        ProceduralPairGenerator.Write(Folder, 8, seed: 21, imageSize: 64, testEvery: 0);
        var records = DiffCapJsonl.Read(Path.Combine(Folder, "train.jsonl")).Select(r => r with { Captions = [r.Captions[0]] }).ToList();
        Pairs = records.Select(r => (r.Image1, r.Image2, r.Captions[0])).ToList();
        var catalog = Ml.DiffCaptioning();
        Data = catalog.LoadImagePairs(records);
        Trainer = catalog.Trainers.OneDiff(new DiffCaptionTrainer.Options
        {
            Preset = "Tiny", StageTwoSteps = 220, BatchSize = 8, StageTwoLearningRate = 3e-3, WarmupFraction = 0.05,
            CacheVisionFeatures = true, MaxNewTokens = 40, Device = "cpu", Seed = 4,
        });
        Model = Trainer.Fit(Data);
        ModelFile = Path.Combine(Folder, "overfit.zip");
        Ml.Model.Save(Model, Data.Schema, ModelFile);
    }

    /// <summary>The model, saved once.</summary>
    public string ModelFile { get; }
}

/// <summary>The tests that use the overfit model share one training run.</summary>
[CollectionDefinition(Name)]
public sealed class OverfitCollection : ICollectionFixture<OverfitFixture>
{
    public const string Name = "overfit Tiny model";
}
