using OneDiff.Data.Formats;
using OneDiff.Data.Images;
using OneDiff.Data.Readers;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Data.Tests;

public class ReaderTests
{
    static readonly ReadOptions NoImages = new() { CheckImages = false };

    static void Png(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        ImageDecoder.SavePng(new RgbImage(2, 2, new byte[12]), path);
    }

    static string Json(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void SpotTheDiffMergesRepeatedIdsAndDropsEmptySentences()
    {
        string root = TestPaths.NewTempDir("std");
        Json(Path.Combine(root, "data/annotations/test.json"), """
            [{"img_id": "7", "sentences": ["the car is gone", ""]}, {"img_id": "9", "sentences": ["a man appeared"]}, {"img_id": "7", "sentences": ["  ", "the red car left"]}]
            """);
        foreach (var f in new[] { "7.png", "7_2.png", "9.png", "9_2.png" }) Png(Path.Combine(root, "resized_images", f));
        var records = new SpotTheDiffReader().Read(root, new ReadOptions { Split = "test" }, new DataReport());
        Assert.Equal(["7", "9"], records.Select(r => r.Id));
        Assert.Equal(["the car is gone", "the red car left"], records[0].Captions);
        Assert.EndsWith("7_2.png", records[0].Image2);
        Assert.Equal(TaskPrompts.Default["spot-the-diff"], records[0].Prompt);
    }

    [Fact]
    public void ClevrChangeGivesChangeAndNoChangePairsWithTypes()
    {
        string root = TestPaths.NewTempDir("clevr");
        Json(Path.Combine(root, "splits.json"), """{"train": [1, 2], "val": [], "test": []}""");
        Json(Path.Combine(root, "type_mapping.json"), """{"color": ["000001.png"], "move": ["000002.png"]}""");
        Json(Path.Combine(root, "change_captions.json"), """{"CLEVR_default_000001.png": ["the cube turned red"], "CLEVR_default_000002.png": ["the ball moved"]}""");
        Json(Path.Combine(root, "no_change_captions.json"), """{"CLEVR_default_000001.png": ["no change"], "CLEVR_default_000002.png": ["nothing changed", "the same"]}""");
        foreach (var n in new[] { "000001", "000002" })
        {
            Png(Path.Combine(root, $"images/CLEVR_default_{n}.png"));
            Png(Path.Combine(root, $"sc_images/CLEVR_semantic_{n}.png"));
            Png(Path.Combine(root, $"nsc_images/CLEVR_nonsemantic_{n}.png"));
        }
        var records = new ClevrChangeReader().Read(root, new ReadOptions(), new DataReport());
        Assert.Equal(["000001.png", "000001.png_n", "000002.png", "000002.png_n"], records.Select(r => r.Id));
        Assert.Equal(["color", "no-change", "move", "no-change"], records.Select(r => r.Group));
        Assert.Contains("nsc_images", records[3].Image2);
    }

    [Fact]
    public void ImageEditingRequestBirdsToWordsNlvr2AndInstructPix2PixRead()
    {
        string ier = TestPaths.NewTempDir("ier");
        Json(Path.Combine(ier, "valid.json"), """[{"img0": "a.jpg", "img1": "b.png", "sents": ["Remove the man ", "take out the person"], "uid": "R_1"}]""");
        var r1 = new ImageEditingRequestReader().Read(ier, NoImages with { Split = "val" }, new DataReport());
        Assert.Equal("Remove the man", r1.Single().Captions[0]);

        string b2w = TestPaths.NewTempDir("b2w");
        File.WriteAllText(Path.Combine(b2w, "birds.tsv"),
            "img1ObservationURL\timg1ImgURL\timg1Species\timg1Selection\timg2ObservationURL\timg2ImgURL\timg2Species\timg2Selection\tsplit\tannN\tdescription\n" +
            "o1\thttp://x/p/1.jpg\ts\tx\to2\thttp://x/p/2.jpg\ts\tx\ttest\t0\tanimal1 is brown .\n" +
            "o1\thttp://x/p/1.jpg\ts\tx\to2\thttp://x/p/2.jpg\ts\tx\ttest\t1\tanimal2 has a blue head .\n" +
            "o3\thttp://x/p/3.jpg\ts\tx\to4\thttp://x/p/4.jpg\ts\tx\ttrain\t0\tanimal1 is small .\n");
        var r2 = new BirdsToWordsReader().Read(b2w, NoImages with { Split = "test" }, new DataReport());
        Assert.Equal(2, r2.Single().Captions.Count);
        Assert.EndsWith(Path.Combine("images", "1.jpg"), r2[0].Image1);

        string nlvr = TestPaths.NewTempDir("nlvr");
        File.WriteAllText(Path.Combine(nlvr, "dev.json"),
            """{"identifier": "dev-5-0-0", "sentence": "Both images show dogs.", "label": "True"}""" + "\n" +
            """{"identifier": "dev-5-0-1", "sentence": "One image shows a cat.", "label": "False"}""" + "\n" +
            """{"identifier": "dev-5-0-2", "sentence": "There are two dogs.", "label": "True"}""" + "\n");
        var r3 = new Nlvr2Reader().Read(nlvr, NoImages with { Split = "dev" }, new DataReport());
        Assert.Equal("dev-5-0", r3.Single().Id);
        Assert.Equal(2, r3[0].Captions.Count);
        Assert.Equal("Make a statement about these two images.", r3[0].Prompt);

        string ip2p = TestPaths.NewTempDir("ip2p");
        Json(Path.Combine(ip2p, "0001/prompt.json"), """{"input": "a house", "edit": "make it snowy", "output": "a snowy house"}""");
        Png(Path.Combine(ip2p, "0001/123_0.png"));
        Png(Path.Combine(ip2p, "0001/123_1.png"));
        var r4 = new InstructPix2PixReader().Read(ip2p, new ReadOptions(), new DataReport());
        Assert.Equal("make it snowy", r4.Single().Captions[0]);
    }

    [Fact]
    public void LlavaCaptionsBecomeCoupledSamples()
    {
        string root = TestPaths.NewTempDir("llava");
        Json(Path.Combine(root, "chat.json"), """
            [{"id": "1", "image": "a.jpg", "conversations": [{"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": "a dog on grass"}]},
             {"id": "2", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
             {"id": "3", "image": "b.jpg", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "a red car"}]},
             {"id": "4", "image": "c.jpg", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "two cats"}]}]
            """);
        var reader = new LlavaCaptionReader();
        var captions = reader.Read(Path.Combine(root, "chat.json"), root, new DataReport(), checkImages: false);
        Assert.Equal(3, captions.Count);
        Assert.Equal(1, reader.TextOnly);
        var cst = CoupledSamples.Create(captions, seed: 1, count: 2);
        var again = CoupledSamples.Create(captions, seed: 1, count: 2);
        Assert.Equal(cst.Select(r => (r.Id, r.Captions.Single())), again.Select(r => (r.Id, r.Captions.Single())));
        Assert.All(cst, r => Assert.NotEqual(r.Image1, r.Image2));
        var pair = cst[0];
        var a = captions.Single(c => c.Image == pair.Image1);
        var b = captions.Single(c => c.Image == pair.Image2);
        Assert.Equal($"{a.Caption} {b.Caption}", pair.Captions.Single());
    }

    [Fact]
    public void LlavaConversationsReadAsTurnsAndBadOnesAreNamed()
    {
        string root = TestPaths.NewTempDir("llava");
        Json(Path.Combine(root, "mix.json"), """
            [{"id": "1", "image": "coco/a.jpg", "conversations": [{"from": "human", "value": "<image>\nWhat colour is the bus?"}, {"from": "gpt", "value": "Red. "},
                                                               {"from": "human", "value": "Is it moving?"}, {"from": "gpt", "value": "Yes."}]},
             {"id": "2", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
             {"id": "3", "image": "b.jpg", "conversations": [{"from": "gpt", "value": "stray"}, {"from": "human", "value": "What is it?\n<image>"}, {"from": "gpt", "value": "A cat."},
                                                           {"from": "human", "value": "unanswered"}]},
             {"id": "4", "image": "c.jpg", "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "human", "value": "Q again"}]},
             {"id": "5", "image": "d.jpg", "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "  "}]}]
            """);
        var reader = new LlavaConversationReader();
        var report = new DataReport(BadInputMode.Skip);
        var conversations = reader.Read(Path.Combine(root, "mix.json"), root, report, checkImages: false);
        Assert.Equal(["1", "3"], conversations.Select(c => c.Id));
        Assert.Equal([new ConversationTurn("What colour is the bus?", "Red."), new ConversationTurn("Is it moving?", "Yes.")], conversations[0].Turns);
        Assert.Equal(Path.Combine(root, "coco", "a.jpg"), conversations[0].Image);
        // LLaVA drops a leading gpt message and a trailing unanswered question.
        Assert.Equal([new ConversationTurn("What is it?", "A cat.")], conversations[1].Turns);
        Assert.Equal(1, reader.TextOnly);
        Assert.Equal(["id 4: message 1 is from 'human' and message 2 from 'human'", "id 5: turn 1 has an empty answer"],
            report.Skipped.Select(p => $"{p.Record}: {p.Message}".Split(';')[0]));
        // In error mode the first bad record stops the read, naming it; a missing image is named too.
        Assert.Contains("id 4", Assert.Throws<DataException>(() => new LlavaConversationReader().Read(Path.Combine(root, "mix.json"), root, new DataReport(), checkImages: false)).Message);
        var missing = Assert.Throws<DataException>(() => new LlavaConversationReader().Read(Path.Combine(root, "mix.json"), root, new DataReport()));
        Assert.Contains("id 1: image file is missing", missing.Message);
    }

    [Fact]
    public void DiffCapWriterAndReaderRoundTrip()
    {
        string dir = TestPaths.NewTempDir("diffcap");
        Png(Path.Combine(dir, "i/a.png"));
        Png(Path.Combine(dir, "i/b.png"));
        var r = new DiffCapRecord("x1", Path.Combine(dir, "i/a.png"), Path.Combine(dir, "i/b.png"), "What changed?", ["a", "b"], "t", "g", "s");
        DiffCapJsonl.Write(Path.Combine(dir, "train.jsonl"), [r]);
        Assert.Contains("\"image1\":\"i/a.png\"", File.ReadAllText(Path.Combine(dir, "train.jsonl")));
        var back = new DiffCapReader().Read(dir, new ReadOptions(), new DataReport()).Single();
        Assert.Equal(r with { Captions = back.Captions }, back);
        Assert.Equal(r.Captions, back.Captions);
    }
}
