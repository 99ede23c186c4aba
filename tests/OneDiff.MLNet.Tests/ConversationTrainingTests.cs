using Microsoft.ML;
using Microsoft.ML.Data;
using OneDiff.Data;
using OneDiff.Data.Formats;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.MLNet.Tests;

/// <summary>Conversations about single images mixed into stage II (the paper's LLaVA-665K mix).</summary>
public class ConversationTrainingTests
{
    sealed class ConversationRow
    {
        public string Image { get; set; } = "";
        [VectorType] public string[] Questions { get; set; } = [];
        [VectorType] public string[] Answers { get; set; } = [];
    }

    /// <summary>Procedural pairs (one reference each) and their "after" images, which the conversations are about.</summary>
    static (string Dir, List<DiffCapRecord> Records) Pairs(int count)
    {
        string dir = TestPaths.NewTempDir("conversations");
        ProceduralPairGenerator.Write(dir, count, seed: 8, imageSize: 64, testEvery: 0);
        var records = DiffCapJsonl.Read(Path.Combine(dir, "train.jsonl")).Select(r => r with { Captions = [r.Captions[0]] }).ToList();
        return (dir, records);
    }

    static DiffCaptionTrainer.Options Tiny(IDataView conversations) => new()
    {
        Preset = "Tiny", BatchSize = 4, StageTwoLearningRate = 3e-3, WarmupFraction = 0.05, CacheVisionFeatures = true,
        MaxNewTokens = 24, Device = "cpu", Seed = 2, ConversationData = conversations, StageTwoTemplate = "vicuna_v1",
    };

    [Fact]
    public void ConversationsTrainWithThePairsAndTheModelLearnsTheirAnswers()
    {
        var ml = new MLContext(seed: 1);
        var (_, records) = Pairs(4);
        // Two questions about each of two single images; the second answer depends on the turn before.
        var conversations = new[]
        {
            new ConversationRow { Image = records[0].Image2, Questions = ["how many shapes are there?", "and what is the largest?"], Answers = ["there are several shapes", "the largest is a triangle"] },
            new ConversationRow { Image = records[1].Image2, Questions = ["what is the background?", "is it noisy?"], Answers = ["a plain background", "no it is not"] },
        };
        var trainer = ml.DiffCaptioning().Trainers.OneDiff(Tiny(ml.Data.LoadFromEnumerable(conversations)));
        // One epoch is 4 pair examples and 2 conversations: 2 batches of 4, where the pairs alone are 1.
        using (var once = trainer.Fit(ml.DiffCaptioning().LoadImagePairs(records)))
        {
            Assert.Equal(trainer.Plan().StageTwo.Steps(6).Total, trainer.LossHistory.Count);
            Assert.NotEqual(trainer.Plan().StageTwo.Steps(4).Total, trainer.LossHistory.Count);
        }

        trainer.TrainerOptions.StageTwoEpochs = 1;
        trainer.TrainerOptions.StageTwoSteps = 160;
        using var model = trainer.Fit(ml.DiffCaptioning().LoadImagePairs(records));
        Assert.True(trainer.LossHistory[^1] < 0.1, $"final loss {trainer.LossHistory[^1]}");
        // Asked the first question about the image (shown on both sides), it gives the trained answer.
        Assert.Equal("there are several shapes", model.Caption(records[0].Image2, records[0].Image2, "how many shapes are there?"));
        Assert.Equal("a plain background", model.Caption(records[1].Image2, records[1].Image2, "what is the background?"));
    }

    [Fact]
    public void BadConversationDataIsAClearErrorNamingTheRowOrColumn()
    {
        var ml = new MLContext(seed: 1);
        var (dir, records) = Pairs(2);
        var pairs = ml.DiffCaptioning().LoadImagePairs(records);
        void Fails<T>(IEnumerable<ConversationRow> rows, string expected) where T : Exception
        {
            var trainer = ml.DiffCaptioning().Trainers.OneDiff(Tiny(ml.Data.LoadFromEnumerable(rows)));
            trainer.TrainerOptions.StageTwoSteps = 1;
            var e = Assert.Throws<T>(() => trainer.Fit(pairs));
            Assert.Contains(expected, e.Message);
        }
        string image = records[0].Image1;
        Fails<InvalidOperationException>([new() { Image = image, Questions = ["a?"], Answers = ["x"] }, new() { Image = image, Questions = ["a?", "b?"], Answers = ["x"] }],
            "ConversationData row 1: 2 question(s) and 1 answer(s)");
        Fails<InvalidOperationException>([new() { Image = image, Questions = ["a?"], Answers = [" "] }], "ConversationData row 0: answer 1 is empty");
        string missing = Path.Combine(dir, "nope.png");
        // A missing image is named by its row, whether the up-front check finds it or its batch does.
        foreach (bool validate in new[] { true, false })
        {
            var trainer = ml.DiffCaptioning().Trainers.OneDiff(Tiny(ml.Data.LoadFromEnumerable(new ConversationRow[]
                { new() { Image = image, Questions = ["a?"], Answers = ["x"] }, new() { Image = missing, Questions = ["a?"], Answers = ["x"] } })));
            trainer.TrainerOptions.StageTwoSteps = 2;
            trainer.TrainerOptions.CheckImages = validate;
            var e = Assert.Throws<DataException>(() => trainer.Fit(pairs));
            Assert.Equal("ConversationData row 1", e.Problem.Record);
            Assert.Equal(missing, e.Problem.File);
        }

        // Columns of the wrong kind, and a template that cannot take turns.
        var flat = ml.Data.LoadFromEnumerable(new[] { new { Image = image, Questions = "a?", Answers = "x" } });
        var t1 = ml.DiffCaptioning().Trainers.OneDiff(Tiny(flat));
        Assert.Contains("column 'Questions' must be a vector of text", Assert.Throws<ArgumentException>(() => t1.Fit(pairs)).Message);
        var plain = Tiny(ml.Data.LoadFromEnumerable(new[] { new ConversationRow { Image = image, Questions = ["a?"], Answers = ["x"] } }));
        plain.StageTwoTemplate = null;
        Assert.Contains("'plain' does not (set StageTwoTemplate)", Assert.Throws<ArgumentException>(() => TrainingPlan.Resolve(plain)).Message);
    }

    [Fact]
    public void LlavaInstructionJsonLoadsAsAConversationTable()
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { if (e.Source.StartsWith("OneDiff", StringComparison.Ordinal)) lock (messages) messages.Add(e.RawMessage); };
        var (dir, records) = Pairs(2);
        string image = Path.GetRelativePath(dir, records[0].Image1).Replace('\\', '/');
        string json = Path.Combine(dir, "mix.json");
        File.WriteAllText(json, $$"""
            [{"id": "a", "image": "{{image}}", "conversations": [{"from": "human", "value": "<image>\nWhat is there?"}, {"from": "gpt", "value": "shapes"}, {"from": "human", "value": "How many?"}, {"from": "gpt", "value": "three"}]},
             {"id": "b", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}]
            """);
        var table = ml.DiffCaptioning().LoadImageConversations(json, dir);
        var rows = ml.Data.CreateEnumerable<ConversationRow>(table, reuseRowObject: false).ToList();
        var row = Assert.Single(rows);
        Assert.Equal(records[0].Image1, row.Image);
        Assert.Equal(["What is there?", "How many?"], row.Questions);
        Assert.Equal(["shapes", "three"], row.Answers);
        Assert.Contains(messages, m => m.Contains("left out 1 text-only record(s)"));
    }
}
