using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.QFormer;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

public partial class HfParityTests
{
    static void CheckQFormer(string dir, HfConfig config, SafetensorsFile io)
    {
        var model = Load(new QFormerModel(QFormerConfig.FromHf(config)), dir);
        var output = model.forward(io.Read("query_embeds").to(TestDevice), io.Read("encoder_hidden_states").to(TestDevice));
        Close(output, io.Read("last_hidden_state"), "last_hidden_state");
    }

    /// <summary>BERT weights in the VDM's self-attention and feed-forward (and its query LayerNorm,
    /// from the embeddings' LayerNorm), run without cross-attention, reproduce BertModel.</summary>
    static void CheckBert(string dir, HfConfig config, SafetensorsFile io)
    {
        int layers = config.GetInt("num_hidden_layers");
        var vdm = Load(new QFormerModel(QFormerConfig.FromBert(config, layers, encoderHiddenSize: 32)), dir, QFormerModel.BertName);
        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        var ids = io.Read("input_ids").to(TestDevice);
        // BertEmbeddings before its LayerNorm: word + position + token type 0.
        var words = checkpoint.Read("embeddings.word_embeddings.weight").to(TestDevice).index_select(0, ids.flatten()).view(ids.shape[0], ids.shape[1], -1);
        var positions = checkpoint.Read("embeddings.position_embeddings.weight").to(TestDevice).narrow(0, 0, ids.shape[1]).unsqueeze(0);
        var tokenType = checkpoint.Read("embeddings.token_type_embeddings.weight").to(TestDevice)[0];
        var output = vdm.forward(words + positions + tokenType, null);
        Close(output, io.Read("last_hidden_state"), "last_hidden_state");
    }

    static void CheckCausalLm(string dir, HfConfig config, SafetensorsFile io) => throw new NotImplementedException("causal LM parity: not written yet");
}
